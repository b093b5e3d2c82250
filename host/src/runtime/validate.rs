//! Checks before anything runs (the component's header, imports and exports)
//! and checks on everything a plugin returns (its description and answers).

use std::collections::HashSet;

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use super::wit::{Version, latest as wit};
use super::{BaselineItem, CallError, Description, ExtraItem, Limits, LoadError, wasi};
use crate::model::{HOST_CODES_FROM, ItemCode, Line};

/// Kind of binary, read from the 8-byte header (magic, then version and layer).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// A binary component (layer 1).
    Component,
    /// WebAssembly text, which wasmtime parses; a core module in text is refused.
    Text,
}

/// Reads the header: `\0asm`, then a 16-bit version and a 16-bit layer.
/// Core modules are version 1, layer 0; components are layer 1.
pub(crate) fn header(bytes: &[u8]) -> Result<Header, LoadError> {
    if let Some(rest) = bytes.strip_prefix(b"\0asm") {
        return match rest.get(2..4) {
            Some([1, 0]) => Ok(Header::Component),
            Some([0, 0]) => Err(LoadError::CoreModule),
            _ => Err(LoadError::Invalid {
                message: "unknown WebAssembly version or layer in the header".into(),
            }),
        };
    }
    // WebAssembly text is recognised here, but only a runtime that compiles
    // trusted input in process accepts it (hand-written tests); a runtime
    // with the compile worker refuses it (`LoadError::TextNotAccepted`), so
    // wasmtime's text parser never sees an upload. Anything else is not
    // WebAssembly.
    let text = std::str::from_utf8(bytes).map_err(|_| LoadError::NotWasm)?;
    let body = text.trim_start();
    if body.starts_with("(module") {
        Err(LoadError::CoreModule)
    } else if body.starts_with('(') || body.starts_with(";;") {
        Ok(Header::Text)
    } else {
        Err(LoadError::NotWasm)
    }
}

/// Refuses every import that is not a WASI interface the host provides;
/// returns whether the component imports WASI at all.
pub(crate) fn imports(engine: &Engine, component: &Component) -> Result<bool, LoadError> {
    let ty = component.component_type();
    let mut forbidden = Vec::new();
    let mut wasi = false;
    for (name, _) in ty.imports(engine) {
        if wasi::is_provided_wasi(name) {
            wasi = true;
        } else {
            forbidden.push(name.to_string());
        }
    }
    if forbidden.is_empty() {
        Ok(wasi)
    } else {
        Err(LoadError::ForbiddenImport { names: forbidden })
    }
}

/// Checks that the county interface of a version the host serves is
/// exported with its functions; returns the version and a readable list of
/// the component's exports.
pub(crate) fn exports(
    engine: &Engine,
    component: &Component,
) -> Result<(Version, Vec<String>), LoadError> {
    let ty = component.component_type();
    let mut found = Vec::new();
    let mut county = None;
    for (name, item) in ty.exports(engine) {
        match &item.ty {
            ComponentItem::ComponentInstance(instance) => {
                let funcs: Vec<&str> = instance.exports(engine).map(|(n, _)| n).collect();
                found.push(format!("{name} ({})", funcs.join(", ")));
                if let Some(version) = Version::of_export(name) {
                    // Two versions of the interface at once: the newest wins.
                    let funcs = funcs.iter().map(|f| f.to_string()).collect::<Vec<_>>();
                    match &county {
                        Some((v, _)) if *v == Version::V0_2 => {}
                        _ => county = Some((version, funcs)),
                    }
                }
            }
            ComponentItem::ComponentFunc(_) => found.push(format!("function {name}")),
            _ => found.push(name.to_string()),
        }
    }
    let expected = Version::ALL
        .iter()
        .map(|v| v.export())
        .collect::<Vec<_>>()
        .join(" or ");
    let wrong = |expected: String, problem: String| LoadError::WrongWorld {
        expected,
        problem,
        exports: found.clone(),
    };
    let Some((version, funcs)) = county else {
        return Err(wrong(expected, "it is not exported".into()));
    };
    let missing: Vec<&str> = version
        .functions()
        .iter()
        .copied()
        .filter(|f| !funcs.iter().any(|g| g == f))
        .collect();
    if missing.is_empty() {
        Ok((version, found))
    } else {
        Err(wrong(
            version.export().to_string(),
            format!("missing functions: {}", missing.join(", ")),
        ))
    }
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> LoadError {
    LoadError::BadDescription {
        field: field.into(),
        problem: problem.into(),
    }
}

fn six_digits(field: &str, value: &str) -> Result<(), LoadError> {
    if value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(bad(
            field,
            format!("{value:?} is not a six-digit GB/T 2260 code"),
        ))
    }
}

/// A text the component declares about itself (shown to reviewers and the
/// public): not empty, within the string cap, and free of control and
/// bidirectional-formatting characters, which are refused rather than
/// escaped because they would change what a reader sees.
fn text(field: &str, value: &str, limits: &Limits) -> Result<(), LoadError> {
    if let Some((at, c, why)) = crate::text::offending(value) {
        return Err(bad(field, crate::text::describe_offence(at, c, why)));
    }
    if value.trim().is_empty() {
        Err(bad(field, "is empty"))
    } else if value.len() > limits.max_string_bytes {
        Err(bad(
            field,
            format!(
                "is {} bytes, over the limit of {}",
                value.len(),
                limits.max_string_bytes
            ),
        ))
    } else {
        Ok(())
    }
}

/// A stable key: lower-case ASCII words (letters and digits) joined by `-`.
fn key(field: &str, value: &str, limits: &Limits) -> Result<(), LoadError> {
    text(field, value, limits)?;
    let ok = value.split('-').all(|w| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(bad(
            field,
            format!("{value:?} is not a key (lower-case words joined by '-')"),
        ))
    }
}

/// Validates a description and converts it to the host's type.
pub(crate) fn description(
    d: wit::wit::Description,
    limits: &Limits,
) -> Result<Description, LoadError> {
    six_digits("county-code", &d.county_code)?;
    text("county-name", &d.county_name, limits)?;
    six_digits("baseline", &d.baseline)?;
    let items = d.baseline_items.len() + d.extra_items.len();
    if items > limits.max_items {
        return Err(bad(
            "items",
            format!("{items} items, over the limit of {}", limits.max_items),
        ));
    }
    let mut codes = HashSet::new();
    let mut keys = HashSet::new();
    let mut check_code = |field: &str, code: ItemCode| {
        if code >= HOST_CODES_FROM {
            Err(bad(
                field,
                format!(
                    "code {code} is reserved for the host (codes must be below {HOST_CODES_FROM})"
                ),
            ))
        } else if !codes.insert(code) {
            Err(bad(field, format!("code {code} is used twice")))
        } else {
            Ok(())
        }
    };
    let mut baseline_items = Vec::with_capacity(d.baseline_items.len());
    for (i, item) in d.baseline_items.into_iter().enumerate() {
        check_code(&format!("baseline-items[{i}].code"), item.code)?;
        let field = format!("baseline-items[{i}].key");
        key(&field, &item.key, limits)?;
        if !keys.insert(item.key.clone()) {
            return Err(bad(field, format!("key {:?} is used twice", item.key)));
        }
        baseline_items.push(BaselineItem {
            code: item.code,
            key: item.key,
        });
    }
    let mut extra_items = Vec::with_capacity(d.extra_items.len());
    for (i, item) in d.extra_items.into_iter().enumerate() {
        check_code(&format!("extra-items[{i}].code"), item.code)?;
        let field = format!("extra-items[{i}].key");
        key(&field, &item.key, limits)?;
        if !keys.insert(item.key.clone()) {
            return Err(bad(field, format!("key {:?} is used twice", item.key)));
        }
        text(&format!("extra-items[{i}].name"), &item.name, limits)?;
        text(
            &format!("extra-items[{i}].legal-basis"),
            &item.legal_basis,
            limits,
        )?;
        extra_items.push(ExtraItem {
            code: item.code,
            key: item.key,
            name: item.name,
            category: wit::category(item.category),
            legal_basis: item.legal_basis,
        });
    }
    Ok(Description {
        county_code: d.county_code,
        county_name: d.county_name,
        baseline: d.baseline,
        baseline_items,
        extra_items,
    })
}

/// Which item codes a plugin may answer with: the ones it declared, and the
/// host's codes (baseline items it passes through).
#[derive(Debug, Clone)]
pub(crate) struct Codes {
    declared: Vec<bool>,
}

impl Codes {
    pub(crate) fn new(d: &Description) -> Codes {
        let mut declared = vec![false; usize::from(HOST_CODES_FROM)];
        let all = d
            .baseline_items
            .iter()
            .map(|i| i.code)
            .chain(d.extra_items.iter().map(|i| i.code));
        for code in all {
            if let Some(slot) = declared.get_mut(usize::from(code)) {
                *slot = true;
            }
        }
        Codes { declared }
    }

    fn allows(&self, code: ItemCode) -> bool {
        self.declared
            .get(usize::from(code))
            .copied()
            .unwrap_or(true)
    }
}

/// Checks and converts one answer: at most `max_lines` lines, declared codes,
/// each item once, well-formed benefits.
pub(crate) fn answer(
    field: &dyn Fn() -> String,
    lines: &[Line],
    codes: &Codes,
    limits: &Limits,
) -> Result<Vec<Line>, CallError> {
    if lines.len() > limits.max_lines {
        return Err(CallError::malformed(
            field(),
            format!(
                "{} lines, over the limit of {}",
                lines.len(),
                limits.max_lines
            ),
        ));
    }
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let line = *l;
        if !codes.allows(line.item) {
            return Err(CallError::malformed(
                format!("{}[{i}].item", field()),
                format!("item code {} is not declared in the description", line.item),
            ));
        }
        if out.iter().any(|o: &Line| o.item == line.item) {
            return Err(CallError::malformed(
                format!("{}[{i}].item", field()),
                format!("item code {} appears twice", line.item),
            ));
        }
        line.benefit.check().map_err(|problem| {
            CallError::malformed(format!("{}[{i}].benefit", field()), problem)
        })?;
        out.push(line);
    }
    Ok(out)
}

/// A string from the guest (its error message, a trap's backtrace with its
/// function names) as the host keeps it: truncated to the string cap on a
/// character boundary, and with control and bidirectional-formatting
/// characters escaped, so that every later output of it is safe whether or
/// not that output escapes again (escaping is idempotent).
pub(crate) fn capped(mut s: String, limits: &Limits) -> String {
    if s.len() > limits.max_string_bytes {
        let mut end = limits.max_string_bytes;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    crate::text::escape(&s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit::wit as w;

    /// [`answer`] for lines in the contract's type.
    fn answer_wit(
        field: &str,
        lines: &[w::Line],
        codes: &Codes,
        limits: &Limits,
    ) -> Result<Vec<Line>, CallError> {
        let lines: Vec<Line> = lines.iter().map(wit::line_from_wit).collect();
        answer(&|| field.to_string(), &lines, codes, limits)
    }

    fn desc() -> w::Description {
        w::Description {
            county_code: "330282".into(),
            county_name: "慈溪市".into(),
            baseline: "330200".into(),
            baseline_items: vec![w::BaselineItem {
                code: 0,
                key: "old-age-allowance".into(),
            }],
            extra_items: vec![w::ExtraItem {
                code: 1,
                key: "priority-admission".into(),
                name: "优先入住".into(),
                category: w::Category::CareService,
                legal_basis: "慈政办发〔2025〕1号".into(),
            }],
        }
    }

    fn problem(d: w::Description) -> (String, String) {
        match description(d, &Limits::default()) {
            Err(LoadError::BadDescription { field, problem }) => (field, problem),
            other => panic!("expected a bad description, got {other:?}"),
        }
    }

    #[test]
    fn headers_tell_components_modules_text_and_garbage_apart() {
        assert_eq!(header(b"\0asm\x0d\0\x01\0").unwrap(), Header::Component);
        assert!(matches!(
            header(b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModule)
        ));
        assert!(matches!(
            header(b"\0asm\x01\0\x07\0"),
            Err(LoadError::Invalid { .. })
        ));
        assert!(matches!(header(b"hello world"), Err(LoadError::NotWasm)));
        assert!(matches!(
            header(&[0xff, 0xfe, 0, 1]),
            Err(LoadError::NotWasm)
        ));
        assert!(matches!(header(b""), Err(LoadError::NotWasm)));
        assert!(matches!(header(b"  (module)"), Err(LoadError::CoreModule)));
        assert_eq!(header(b"(component)").unwrap(), Header::Text);
    }

    #[test]
    fn a_good_description_converts() {
        let d = description(desc(), &Limits::default()).unwrap();
        assert_eq!(d.county_code, "330282");
        assert_eq!(
            d.extra_items[0].category,
            crate::model::Category::CareService
        );
    }

    #[test]
    fn bad_descriptions_name_the_field() {
        let mut d = desc();
        d.county_code = "33028".into();
        assert_eq!(problem(d).0, "county-code");

        let mut d = desc();
        d.baseline = "33020x".into();
        assert_eq!(problem(d).0, "baseline");

        let mut d = desc();
        d.extra_items[0].code = 0;
        let (field, why) = problem(d);
        assert_eq!(field, "extra-items[0].code");
        assert!(why.contains("twice"), "{why}");

        let mut d = desc();
        d.baseline_items[0].code = HOST_CODES_FROM;
        assert_eq!(problem(d).0, "baseline-items[0].code");

        for bad_key in ["", "Old-age", "old--age", "-old", "old_age", "老"] {
            let mut d = desc();
            d.extra_items[0].key = bad_key.into();
            assert_eq!(problem(d).0, "extra-items[0].key", "{bad_key:?}");
        }

        let mut d = desc();
        d.extra_items[0].key = "old-age-allowance".into();
        assert!(problem(d).1.contains("twice"));

        let mut d = desc();
        d.extra_items[0].name = "x".repeat(DEFAULT_STRING + 1);
        assert_eq!(problem(d).0, "extra-items[0].name");

        let mut d = desc();
        d.county_name = " ".into();
        assert_eq!(problem(d).0, "county-name");

        let mut d = desc();
        d.extra_items[0].name = "优先\u{1b}[2J".into();
        assert_eq!(
            problem(d),
            (
                "extra-items[0].name".to_string(),
                "U+001B (control character) at byte 6".to_string()
            )
        );

        let mut d = desc();
        d.extra_items[0].legal_basis = "慈政办发\u{202e}1号".into();
        let (field, why) = problem(d);
        assert_eq!(field, "extra-items[0].legal-basis");
        assert!(
            why.starts_with("U+202E (bidirectional-formatting character)"),
            "{why}"
        );

        let mut d = desc();
        d.extra_items = (1..=1024)
            .map(|c| w::ExtraItem {
                key: format!("item-{c}"),
                code: c,
                ..desc().extra_items[0].clone()
            })
            .collect();
        assert_eq!(problem(d).0, "items");
    }

    const DEFAULT_STRING: usize = super::super::DEFAULT_MAX_STRING_BYTES;

    #[test]
    fn answers_are_checked_against_caps_codes_and_benefits() {
        let d = description(desc(), &Limits::default()).unwrap();
        let codes = Codes::new(&d);
        let limits = Limits::default();
        let line = |item, benefit| w::Line { item, benefit };
        let ok = [
            line(0, w::Benefit::MonthlyCash(100)),
            line(HOST_CODES_FROM + 3, w::Benefit::Right),
        ];
        assert_eq!(answer_wit("lines", &ok, &codes, &limits).unwrap().len(), 2);

        let undeclared = [line(7, w::Benefit::Right)];
        let err = answer_wit("lines", &undeclared, &codes, &limits).unwrap_err();
        assert!(
            matches!(err, CallError::Malformed { ref field, .. } if field == "lines[0].item"),
            "{err}"
        );

        let twice = [line(1, w::Benefit::Right), line(1, w::Benefit::Right)];
        assert!(answer_wit("lines", &twice, &codes, &limits).is_err());

        let zero_months = [line(
            1,
            w::Benefit::Quota(w::Quota {
                count: 1,
                months: 0,
            }),
        )];
        let err = answer_wit("lines", &zero_months, &codes, &limits).unwrap_err();
        assert!(
            matches!(err, CallError::Malformed { ref field, .. } if field == "lines[0].benefit")
        );

        let percent = [line(
            1,
            w::Benefit::Voucher(w::Voucher {
                percent: 101,
                monthly_cap: 1,
            }),
        )];
        assert!(answer_wit("lines", &percent, &codes, &limits).is_err());

        let many: Vec<_> = (0..=limits.max_lines as u16)
            .map(|i| line(HOST_CODES_FROM + i, w::Benefit::Right))
            .collect();
        let err = answer_wit("lines", &many, &codes, &limits).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
    }

    #[test]
    fn capped_strings_end_on_a_character_boundary() {
        let limits = Limits {
            max_string_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(capped("慈溪市".into(), &limits), "慈…");
        assert_eq!(capped("abc".into(), &limits), "abc");
        assert_eq!(capped("a\u{1b}".into(), &limits), "a\\u{1b}");
    }
}
