//! Paths of the guest components built from source (being written).
