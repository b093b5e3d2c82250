//! The component side, compiled for WebAssembly only: the generated
//! bindings (private to the SDK), the functions the [`export!`](crate::export)
//! macro wires to the WIT exports, the global allocator and the panic
//! handler.

use crate::County;
use crate::batch;
use crate::lines::Category;
#[cfg(feature = "wit-v0-1-0")]
use crate::{
    Line,
    lines::Lines,
    person::{Ability, Assistance, Disability, Hukou, Living, Person},
};
#[cfg(feature = "wit-v0-1-0")]
use alloc::{string::String, vec::Vec};

/// The generated bindings: of `qingdan:county@0.2.0`, or of the frozen
/// 0.1.0 with the `wit-v0-1-0` feature. Public only so that the `export!`
/// macro can reach them from the plugin crate; not part of the SDK's API.
/// The WIT is read from the SDK's own `wit/` folder, so the SDK builds
/// outside this repository too.
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    #[cfg(not(feature = "wit-v0-1-0"))]
    wit_bindgen::generate!({
        path: "wit/v0.2.0",
        world: "county-list",
        // The plugin crate invokes the export macro through the SDK's
        // `export!`; it does not depend on wit-bindgen itself.
        pub_export_macro: true,
        export_macro_name: "__qingdan_export_county_list",
        default_bindings_module: "qingdan_sdk::__private::bindings",
        runtime_path: "qingdan_sdk::__private::rt",
        // The hot-path types are the SDK's own (same shape as the WIT), so
        // lines cross the boundary without conversion.
        with: {
            "qingdan:county/types@0.2.0/line": crate::Line,
            "qingdan:county/types@0.2.0/benefit": crate::Benefit,
            "qingdan:county/types@0.2.0/quota": crate::Quota,
            "qingdan:county/types@0.2.0/one-off": crate::OneOff,
            "qingdan:county/types@0.2.0/voucher": crate::Voucher,
        },
    });
    #[cfg(feature = "wit-v0-1-0")]
    wit_bindgen::generate!({
        path: "wit/v0.1.0",
        world: "county-list",
        pub_export_macro: true,
        export_macro_name: "__qingdan_export_county_list",
        default_bindings_module: "qingdan_sdk::__private::bindings",
        runtime_path: "qingdan_sdk::__private::rt",
        with: {
            "qingdan:county/types@0.1.0/line": crate::Line,
            "qingdan:county/types@0.1.0/benefit": crate::Benefit,
            "qingdan:county/types@0.1.0/quota": crate::Quota,
            "qingdan:county/types@0.1.0/one-off": crate::OneOff,
            "qingdan:county/types@0.1.0/voucher": crate::Voucher,
        },
    });
}

pub use bindings::exports::qingdan::county::county::{Batch, BatchAnswers, Guest};
use bindings::exports::qingdan::county::types as wit;
pub use wit::Description as WitDescription;
#[cfg(feature = "wit-v0-1-0")]
pub use wit::Person as WitPerson;
pub use wit_bindgen::rt;

#[cfg(feature = "wit-v0-1-0")]
fn person(p: &wit::Person) -> Person {
    Person {
        age: p.age,
        hukou: match p.hukou {
            wit::Hukou::Local => Hukou::Local,
            wit::Hukou::NonLocal => Hukou::NonLocal,
        },
        ability: match p.ability {
            wit::Ability::Unassessed => Ability::Unassessed,
            wit::Ability::Intact => Ability::Intact,
            wit::Ability::Mild => Ability::Mild,
            wit::Ability::Moderate => Ability::Moderate,
            wit::Ability::Severe => Ability::Severe,
            wit::Ability::Complete => Ability::Complete,
        },
        assistance: match p.assistance {
            wit::Assistance::None => Assistance::None,
            wit::Assistance::LowIncome => Assistance::LowIncome,
            wit::Assistance::DibaoEdge => Assistance::DibaoEdge,
            wit::Assistance::Dibao => Assistance::Dibao,
            wit::Assistance::Tekun => Assistance::Tekun,
        },
        disability: match p.disability {
            wit::Disability::None => Disability::None,
            wit::Disability::Grade4 => Disability::Grade4,
            wit::Disability::Grade3 => Disability::Grade3,
            wit::Disability::Grade2 => Disability::Grade2,
            wit::Disability::Grade1 => Disability::Grade1,
        },
        // The WIT flags and `Living` use the same bit order.
        living: Living::from_bits(p.living.bits()),
        family_planning_special: p.family_planning_special,
        veteran_entitled: p.veteran_entitled,
    }
}

fn category(c: Category) -> wit::Category {
    match c {
        Category::MaterialAssistance => wit::Category::MaterialAssistance,
        Category::CareService => wit::Category::CareService,
        Category::CaringService => wit::Category::CaringService,
    }
}

/// `describe`, for the plugin's county type.
pub fn describe<C: County>() -> wit::Description {
    let d = C::describe();
    wit::Description {
        county_code: d.county_code().into(),
        county_name: d.county_name().into(),
        baseline: d.baseline_code().into(),
        baseline_items: d
            .baseline_items()
            .iter()
            .map(|i| wit::BaselineItem {
                code: i.code(),
                key: i.key().into(),
            })
            .collect(),
        extra_items: d
            .extra_items()
            .iter()
            .map(|e| wit::ExtraItem {
                code: e.code(),
                key: e.key().into(),
                name: e.name().into(),
                category: category(e.category()),
                legal_basis: e.legal_basis().into(),
            })
            .collect(),
    }
}

/// `evaluate` (0.1.0 only), for the plugin's county type.
#[cfg(feature = "wit-v0-1-0")]
pub fn evaluate<C: County>(who: wit::Person, baseline: Vec<Line>) -> Result<Vec<Line>, String> {
    let mut lines = Lines::from_vec(baseline);
    C::evaluate(&person(&who), &mut lines)?;
    Ok(lines.into_vec())
}

/// `evaluate-batch` of 0.1.0, for the plugin's county type.
#[cfg(feature = "wit-v0-1-0")]
pub fn evaluate_batch<C: County>(work: Batch) -> BatchAnswers {
    let out = batch::run(
        &work.baselines,
        work.persons.iter().map(|(p, base)| (person(p), *base)),
        C::evaluate,
    );
    BatchAnswers {
        answers: out.answers,
        outcomes: out.outcomes,
        errors: out.errors,
    }
}

/// `evaluate-batch` of 0.2.0, for the plugin's county type: persons arrive
/// as domain indices.
#[cfg(not(feature = "wit-v0-1-0"))]
pub fn evaluate_batch<C: County>(work: Batch) -> BatchAnswers {
    let out = batch::run_indexed(
        &work.baselines,
        &work.persons,
        &work.baseline_of,
        C::evaluate,
    );
    BatchAnswers {
        answers: out.answers,
        outcomes: out.outcomes,
        errors: out.errors,
    }
}

/// dlmalloc is the allocator Rust's own `std` uses on WebAssembly: small,
/// and it reuses freed memory, so a batch over a million persons runs in
/// flat memory. (A bump allocator would be faster per call but would grow
/// for as long as an instance is reused.)
#[cfg(not(feature = "std"))]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A panic ends the call with a trap: the host then gives the person the
/// baseline and records the incident. Printing the message would need an
/// import, and the reference build imports nothing.
#[cfg(not(feature = "std"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocation entry point, through which the host
/// writes a call's arguments (the person, the baseline lines) into the
/// component's memory. On `wasm32-wasip2` it normally comes from the C
/// library that `std` links; without `std` the SDK provides it. An
/// allocation that cannot be satisfied traps (the host then falls back to
/// the baseline), as there is no way to report it to the caller.
///
/// # Safety
///
/// Called by the canonical ABI only: `old_ptr` is null with `old_len` 0, or
/// a pointer this function returned for `old_len` bytes at `align`.
#[cfg(not(feature = "std"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};
    if new_len == 0 {
        // A zero-sized allocation needs no memory, only a well-aligned
        // non-null pointer.
        return align as *mut u8;
    }
    let Ok(layout) = Layout::from_size_align(new_len, align) else {
        core::arch::wasm32::unreachable()
    };
    let ptr = if old_len == 0 {
        // SAFETY: `layout` has a non-zero size.
        unsafe { alloc(layout) }
    } else {
        let Ok(old) = Layout::from_size_align(old_len, align) else {
            core::arch::wasm32::unreachable()
        };
        // SAFETY: the canonical ABI only passes back a pointer this function
        // returned, with the size and alignment it was allocated with.
        unsafe { realloc(old_ptr, old, new_len) }
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable()
    }
    ptr
}
