//! Write a county's basic elderly-care service list (基本养老服务清单) as a
//! Qingdan plugin.
//!
//! A plugin says, for one person, which entitlement lines the county gives.
//! It starts from the city's baseline lines for that person and may only
//! raise them or add items: the host proves over every possible person that
//! the plugin never gives less than the baseline, and enforces the same floor
//! again whenever it evaluates.
//!
//! ```
//! use qingdan_sdk::prelude::*;
//!
//! const ALLOWANCE: Item = Item::baseline(1, "old-age-allowance");
//! const ASSESSMENT: Item = Item::baseline(2, "ability-assessment");
//! const BATHING: Extra = Extra::new(100, "bathing", "免费助浴服务",
//!     Category::CareService, "《慈溪市加快建设基本养老服务体系的实施方案》(2024)");
//!
//! struct Cixi;
//!
//! impl County for Cixi {
//!     fn describe() -> Description {
//!         Description::new("330282", "慈溪市", "330200")
//!             .baseline(ALLOWANCE)
//!             .baseline(ASSESSMENT)
//!             .extra(BATHING)
//!     }
//!
//!     fn evaluate(person: &Person, lines: &mut Lines) -> Result<(), String> {
//!         if person.age >= 80 {
//!             lines.at_least(ASSESSMENT, Benefit::quota(1, 12));
//!         } else {
//!             lines.at_least(ASSESSMENT, Benefit::quota(1, 24));
//!         }
//!         if person.assistance >= Assistance::DibaoEdge && person.is_disabled() {
//!             lines.add(BATHING, Benefit::quota(1, 12));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! qingdan_sdk::export!(Cixi);
//! # let mut lines = Lines::new();
//! # Cixi::evaluate(&Person::aged(61), &mut lines).unwrap();
//! # assert_eq!(lines.get(ASSESSMENT), Some(&Benefit::quota(1, 24)));
//! ```
//!
//! The plugin crate has no `std` inside the component (the reference build
//! imports nothing, and `std` would bring WASI imports): it starts with
//! `#![cfg_attr(target_arch = "wasm32", no_std)]`, so its unit tests still run
//! natively with `std`. It has `crate-type = ["cdylib"]` and is built with
//! `cargo build --release --target wasm32-wasip2`. The SDK installs the
//! allocator and the panic handler itself; a panic ends the call with a trap
//! and the person gets the baseline.
//!
//! # Layout
//!
//! - [`Person`] and its fields ([`Hukou`], [`Ability`], [`Assistance`],
//!   [`Disability`], [`Living`]) with helpers for the usual groups.
//! - [`Benefit`] (monthly cash, quota, one-off, voucher, right), its
//!   constructors and the order "at least as generous" ([`Benefit::covers`]).
//! - [`Item`] (a baseline item by catalogue key), [`Extra`] (an item the
//!   county adds), [`Lines`] (the person's lines, with one-line operations).
//! - [`Description`]: who the plugin is and which items it names.
//! - [`County`] and [`export!`]: the trait a plugin implements and the macro
//!   that turns it into the component's exports, including the batch loop
//!   the floor proof runs (answers interned, no allocation per person).
//!
//! # Features
//!
//! - `std`: for a plugin that uses Rust's `std` (and so imports WASI): the
//!   SDK then leaves the allocator and the panic handler to `std`. The host
//!   gives such a plugin a WASI without files, network or environment.
//! - `wit-v0-1-0`: build the component for the frozen contract
//!   `qingdan:county@0.1.0` instead of 0.2.0 (the host serves both; the
//!   tests use it to show that both give the same answer table).

#![no_std]

extern crate alloc;
// The generated bindings name this crate by its external name, so that the
// same paths work inside the SDK and in the plugin crate that expands
// `export!`.
extern crate self as qingdan_sdk;

// The batch loop runs only inside the component; natively it is unit-tested.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod batch;
mod benefit;
mod describe;
mod lines;
mod person;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
#[allow(unsafe_code, missing_docs)] // generated bindings and the export glue
pub mod __private {
    pub use crate::glue::*;
    pub use alloc::string::String;
    pub use alloc::vec::Vec;
}
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod glue;

pub use benefit::{Benefit, Fen, HOST_CODES_FROM, ItemCode, Line, OneOff, Quota, Voucher};
pub use describe::Description;
pub use lines::{Category, Code, Extra, Item, Lines};
pub use person::{Ability, Assistance, Disability, Hukou, Living, Person};

/// Everything a plugin usually needs, including `String`, `Vec` and
/// `format!` (the plugin crate is `#![no_std]`).
pub mod prelude {
    pub use crate::{
        Ability, Assistance, Benefit, Category, County, Description, Disability, Extra, Hukou,
        Item, Lines, Living, Person,
    };
    pub use alloc::format;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
}

/// A county's list. Implement it for a unit type and register the type with
/// [`export!`].
pub trait County {
    /// Who the county is and which items it names. Called once, when the
    /// host loads the component.
    fn describe() -> Description;

    /// The lines of `person`. `lines` holds the person's baseline lines on
    /// entry (under the codes of the items the description names, or host
    /// codes from 32768 up for the others); change them in place. An `Err`
    /// gives the person the baseline and shows the reason to the county team.
    fn evaluate(person: &Person, lines: &mut Lines) -> Result<(), alloc::string::String>;
}

/// Makes the plugin's [`County`] type the component's exports of
/// `qingdan:county@0.2.0`: `describe` and `evaluate-batch` (which the SDK
/// implements by calling `evaluate` for every person from their baseline
/// lines and interning the answers); with the `wit-v0-1-0` feature, those
/// of the frozen 0.1.0, which has a single-person `evaluate` too. Use it once, at the crate root. On targets other than
/// WebAssembly it expands to nothing, so a plugin's unit tests run natively.
#[macro_export]
macro_rules! export {
    ($county:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct QingdanExports;
            impl $crate::__private::Guest for QingdanExports {
                fn describe() -> $crate::__private::WitDescription {
                    $crate::__private::describe::<$county>()
                }
                $crate::__single_evaluate!($county);
                fn evaluate_batch(
                    work: $crate::__private::Batch,
                ) -> $crate::__private::BatchAnswers {
                    $crate::__private::evaluate_batch::<$county>(work)
                }
            }
            $crate::__private::bindings::__qingdan_export_county_list!(
                QingdanExports with_types_in $crate::__private::bindings
            );
        };
    };
}

/// The single-person `evaluate` export of WIT 0.1.0 (nothing for 0.2.0,
/// which has none). Not part of the SDK's API.
#[cfg(feature = "wit-v0-1-0")]
#[doc(hidden)]
#[macro_export]
macro_rules! __single_evaluate {
    ($county:ty) => {
        fn evaluate(
            who: $crate::__private::WitPerson,
            baseline: $crate::__private::Vec<$crate::Line>,
        ) -> ::core::result::Result<$crate::__private::Vec<$crate::Line>, $crate::__private::String>
        {
            $crate::__private::evaluate::<$county>(who, baseline)
        }
    };
}

/// The single-person `evaluate` export of WIT 0.1.0 (nothing for 0.2.0,
/// which has none). Not part of the SDK's API.
#[cfg(not(feature = "wit-v0-1-0"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __single_evaluate {
    ($county:ty) => {};
}
