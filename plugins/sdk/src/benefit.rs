//! What a person gets from one item, and the order "at least as generous"
//! the host checks every county answer against.
//!
//! The shapes of [`Benefit`], [`Quota`], [`OneOff`], [`Voucher`] and [`Line`]
//! are exactly those of the WIT contract, so the generated bindings use these
//! types directly and no line is converted on the way in or out.

/// Money in fen (分, 1/100 yuan). Never fractional, never negative.
pub type Fen = u64;

/// The code of an item on the wire. Codes below 32768 are declared by the
/// plugin in its description; codes from 32768 up are the host's, given to
/// baseline items the plugin did not name (pass them through).
pub type ItemCode = u16;

/// Codes from this value up belong to the host.
pub const HOST_CODES_FROM: ItemCode = 32_768;

/// A service given `count` times every `months` months.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    /// How many times.
    pub count: u32,
    /// In how many months (at least 1).
    pub months: u32,
}

/// A one-off grant: a fixed amount plus `percent` of the cost up to `cap`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OneOff {
    /// Fixed amount in fen.
    pub fixed: Fen,
    /// Percent of the cost covered (0..=100).
    pub percent: u8,
    /// Cap on the proportional part, in fen.
    pub cap: Fen,
}

/// A consumption voucher: `percent` of spending, up to `monthly_cap` a month.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Voucher {
    /// Percent of spending covered (0..=100).
    pub percent: u8,
    /// Monthly cap in fen.
    pub monthly_cap: Fen,
}

/// What a person gets from one item.
///
/// ```
/// use qingdan_sdk::Benefit;
/// assert_eq!(Benefit::cash_yuan(60), Benefit::cash_fen(6000));
/// // once a year is at least as generous as once every two years
/// assert!(Benefit::quota(1, 12).covers(&Benefit::quota(1, 24)));
/// assert!(!Benefit::quota(1, 36).covers(&Benefit::quota(1, 24)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Benefit {
    /// Cash every month, in fen.
    MonthlyCash(Fen),
    /// A service quota.
    Quota(Quota),
    /// A one-off grant.
    OneOff(OneOff),
    /// A consumption voucher.
    Voucher(Voucher),
    /// A right, such as priority admission to a public care home.
    Right,
}

impl Benefit {
    /// Monthly cash of `yuan` yuan.
    pub const fn cash_yuan(yuan: u64) -> Benefit {
        Benefit::MonthlyCash(yuan.saturating_mul(100))
    }

    /// Monthly cash of `fen` fen.
    pub const fn cash_fen(fen: Fen) -> Benefit {
        Benefit::MonthlyCash(fen)
    }

    /// A service `count` times every `months` months (`months` of 0 is
    /// malformed and never counts as generous).
    pub const fn quota(count: u32, months: u32) -> Benefit {
        Benefit::Quota(Quota { count, months })
    }

    /// A fixed one-off grant of `yuan` yuan.
    pub const fn one_off_yuan(yuan: u64) -> Benefit {
        Benefit::OneOff(OneOff {
            fixed: yuan.saturating_mul(100),
            percent: 0,
            cap: 0,
        })
    }

    /// A one-off grant of `percent` of the cost, at most `cap_yuan` yuan.
    pub const fn one_off_share(percent: u8, cap_yuan: u64) -> Benefit {
        Benefit::OneOff(OneOff {
            fixed: 0,
            percent,
            cap: cap_yuan.saturating_mul(100),
        })
    }

    /// A voucher paying `percent` of spending, at most `cap_yuan` yuan a month.
    pub const fn voucher(percent: u8, cap_yuan: u64) -> Benefit {
        Benefit::Voucher(Voucher {
            percent,
            monthly_cap: cap_yuan.saturating_mul(100),
        })
    }

    /// A right (priority admission and the like).
    pub const fn right() -> Benefit {
        Benefit::Right
    }

    /// Whether `self` is at least as generous as `other`: the same kind and
    /// no figure lower (quotas compare as rates `count / months`). This is
    /// the order the host's floor proof uses; equality passes.
    pub fn covers(&self, other: &Benefit) -> bool {
        match (self, other) {
            (Benefit::MonthlyCash(a), Benefit::MonthlyCash(b)) => a >= b,
            (Benefit::Quota(a), Benefit::Quota(b)) => {
                // Cross-multiplied in 64 bits: no division, no overflow.
                a.months != 0
                    && u64::from(a.count) * u64::from(b.months)
                        >= u64::from(b.count) * u64::from(a.months)
            }
            (Benefit::OneOff(a), Benefit::OneOff(b)) => {
                a.fixed >= b.fixed && a.percent >= b.percent && a.cap >= b.cap
            }
            (Benefit::Voucher(a), Benefit::Voucher(b)) => {
                a.percent >= b.percent && a.monthly_cap >= b.monthly_cap
            }
            (Benefit::Right, Benefit::Right) => true,
            _ => false,
        }
    }

    /// The least benefit that covers both `self` and `other` when they are of
    /// the same kind (figure by figure the higher one; for quotas the higher
    /// rate); `None` for different kinds.
    pub fn join(&self, other: &Benefit) -> Option<Benefit> {
        Some(match (self, other) {
            (Benefit::MonthlyCash(a), Benefit::MonthlyCash(b)) => Benefit::MonthlyCash(*a.max(b)),
            (Benefit::Quota(_), Benefit::Quota(_)) => {
                if self.covers(other) {
                    *self
                } else {
                    *other
                }
            }
            (Benefit::OneOff(a), Benefit::OneOff(b)) => Benefit::OneOff(OneOff {
                fixed: a.fixed.max(b.fixed),
                percent: a.percent.max(b.percent),
                cap: a.cap.max(b.cap),
            }),
            (Benefit::Voucher(a), Benefit::Voucher(b)) => Benefit::Voucher(Voucher {
                percent: a.percent.max(b.percent),
                monthly_cap: a.monthly_cap.max(b.monthly_cap),
            }),
            (Benefit::Right, Benefit::Right) => Benefit::Right,
            _ => return None,
        })
    }
}

/// One entitlement: an item (by code) and what the person gets from it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Line {
    /// The item.
    pub item: ItemCode,
    /// What the person gets from it.
    pub benefit: Benefit,
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl Line {
    /// A 64-bit hash of the line, stable across runs (no random keys, so the
    /// interning of batch answers is deterministic).
    pub(crate) fn hash64(&self, state: u64) -> u64 {
        let (tag, a, b, c) = match self.benefit {
            Benefit::MonthlyCash(fen) => (0u64, fen, 0, 0),
            Benefit::Quota(q) => (1, u64::from(q.count), u64::from(q.months), 0),
            Benefit::OneOff(o) => (2, o.fixed, u64::from(o.percent), o.cap),
            Benefit::Voucher(v) => (3, u64::from(v.percent), v.monthly_cap, 0),
            Benefit::Right => (4, 0, 0, 0),
        };
        // The figures folded into one word (rotated apart so that equal
        // figures in different places do not cancel), then two mixes where
        // there were four: the mixes chain from line to line, so fewer of
        // them is what makes a long answer quick to hash. Equal lines always hash equal; what
        // little folding adds to collisions costs a comparison, never a
        // wrong answer.
        let word = (u64::from(self.item) << 8 | tag) ^ a.rotate_left(16) ^ b.rotate_left(40) ^ c;
        mix(mix(state ^ word))
    }
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
/// One round of a multiply-rotate mix (the constant is the 64-bit golden
/// ratio); strong enough for a hash table of at most a few thousand answers.
fn mix(h: u64) -> u64 {
    h.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(26)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_is_the_floor_order() {
        assert!(Benefit::cash_fen(10_000).covers(&Benefit::cash_fen(10_000)));
        assert!(!Benefit::cash_fen(9_999).covers(&Benefit::cash_fen(10_000)));
        assert!(Benefit::quota(2, 24).covers(&Benefit::quota(1, 12)));
        assert!(!Benefit::quota(1, 0).covers(&Benefit::quota(1, 12)));
        assert!(!Benefit::cash_fen(1).covers(&Benefit::quota(1, 12)));
        assert!(Benefit::voucher(50, 800).covers(&Benefit::voucher(50, 800)));
        assert!(!Benefit::voucher(60, 700).covers(&Benefit::voucher(50, 800)));
        assert!(Benefit::right().covers(&Benefit::Right));
    }

    #[test]
    fn join_covers_both_sides() {
        let pairs = [
            (Benefit::cash_fen(5), Benefit::cash_fen(7)),
            (Benefit::quota(1, 12), Benefit::quota(1, 24)),
            (Benefit::one_off_yuan(100), Benefit::one_off_share(30, 1200)),
            (Benefit::voucher(40, 800), Benefit::voucher(50, 600)),
            (Benefit::Right, Benefit::Right),
        ];
        for (a, b) in pairs {
            let j = a.join(&b).unwrap();
            assert!(j.covers(&a) && j.covers(&b), "{a:?} {b:?} {j:?}");
        }
        assert_eq!(Benefit::Right.join(&Benefit::cash_fen(1)), None);
    }

    #[test]
    fn line_hash_separates_kinds_and_items() {
        let a = Line {
            item: 1,
            benefit: Benefit::cash_fen(1),
        };
        let b = Line {
            item: 1,
            benefit: Benefit::quota(1, 0),
        };
        let c = Line {
            item: 2,
            benefit: Benefit::cash_fen(1),
        };
        assert_ne!(a.hash64(0), b.hash64(0));
        assert_ne!(a.hash64(0), c.hash64(0));
        assert_eq!(a.hash64(7), a.hash64(7));
    }
}
