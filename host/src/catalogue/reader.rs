//! Reads catalogue TOML into a [`Catalogue`], checking every rule and
//! collecting every problem of a file (not just the first), each with its
//! line, column and field path.
//!
//! The document is walked by hand over `toml`'s spanned tree rather than
//! through serde derive: that gives exact positions and field paths for every
//! error, lists the allowed keys and values, and lets one pass report all the
//! problems of a file.

use super::error::line_col;
use super::predicate::{Atom, Cmp, Predicate, person_text};
use super::{
    Catalogue, CatalogueError, CatalogueErrors, Item, Jurisdiction, Level, MAX_ITEMS, Provenance,
    Quality, Source, Tier,
};
use crate::model::{
    Ability, Assistance, Benefit, BenefitKind, Category, Disability, Hukou, LivingFlag, MAX_AGE,
    MIN_AGE, OneOff, Person, Quota, Voucher,
};
use crate::text::Shared;
use jiff::civil::Date;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

type Value<'i> = Spanned<DeValue<'i>>;

pub(crate) mod register;

/// Fields of a loaded catalogue that errors found later (between files) point at.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Field {
    /// `jurisdiction.parent`
    Parent,
    /// `jurisdiction.effective-from`
    EffectiveFrom,
}

/// Line and column of the fields named by [`Field`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Spans {
    parent: (usize, usize),
    effective_from: (usize, usize),
}

impl Spans {
    pub(crate) fn error(&self, file: &Path, field: Field, problem: String) -> CatalogueError {
        let ((line, column), field) = match field {
            Field::Parent => (self.parent, "jurisdiction.parent"),
            Field::EffectiveFrom => (self.effective_from, "jurisdiction.effective-from"),
        };
        CatalogueError {
            file: file.to_path_buf(),
            line,
            column,
            field: field.into(),
            problem,
        }
    }
}

/// GB/T 2260 province-level prefixes (the first two digits of a code).
const PROVINCES: &[&str] = &[
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];

struct Reader<'a> {
    text: &'a str,
    path: &'a Path,
    errors: Vec<(usize, CatalogueError)>,
}

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn quoted(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn get<'t, 'i>(t: &'t DeTable<'i>, key: &str) -> Option<&'t Value<'i>> {
    t.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    v.type_str()
}

impl<'a> Reader<'a> {
    fn err(&mut self, span: &Range<usize>, field: &str, problem: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.errors.push((
            span.start,
            CatalogueError {
                file: self.path.to_path_buf(),
                line,
                column,
                field: field.to_string(),
                problem: problem.into(),
            },
        ));
    }

    /// Reports keys of `t` not in `allowed`.
    fn only(&mut self, t: &DeTable<'_>, path: &str, allowed: &[&str]) {
        for (k, _) in t.iter() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                self.err(
                    &k.span(),
                    &join_path(path, k.get_ref()),
                    format!(
                        "unknown key `{}`; allowed here: {}",
                        k.get_ref(),
                        quoted(allowed)
                    ),
                );
            }
        }
    }

    fn table<'t, 'i>(&mut self, v: &'t Value<'i>, path: &str) -> Option<&'t DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.err(
                    &v.span(),
                    path,
                    format!("expected a table, found a {}", type_name(other)),
                );
                None
            }
        }
    }

    fn required<'t, 'i>(
        &mut self,
        t: &'t DeTable<'i>,
        t_span: &Range<usize>,
        path: &str,
        key: &str,
    ) -> Option<&'t Value<'i>> {
        let v = get(t, key);
        if v.is_none() {
            self.err(
                t_span,
                &join_path(path, key),
                format!("missing required key `{key}`"),
            );
        }
        v
    }

    fn string(&mut self, v: &Value<'_>, path: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) if s.trim().is_empty() => {
                self.err(&v.span(), path, "must not be empty");
                None
            }
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.err(
                    &v.span(),
                    path,
                    format!("expected a string, found a {}", type_name(other)),
                );
                None
            }
        }
    }

    fn req_string(
        &mut self,
        t: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        let v = self.required(t, span, path, key)?;
        self.string(v, &join_path(path, key))
    }

    fn opt_string(&mut self, t: &DeTable<'_>, path: &str, key: &str) -> Option<String> {
        let v = get(t, key)?;
        self.string(v, &join_path(path, key))
    }

    fn boolean(&mut self, v: &Value<'_>, path: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.err(
                    &v.span(),
                    path,
                    format!("expected true or false, found a {}", type_name(other)),
                );
                None
            }
        }
    }

    fn choice<T: Copy>(
        &mut self,
        v: &Value<'_>,
        path: &str,
        all: &[T],
        key: impl Fn(T) -> &'static str,
    ) -> Option<T> {
        let allowed: Vec<&str> = all.iter().map(|t| key(*t)).collect();
        match v.get_ref() {
            DeValue::String(s) => {
                let found = all.iter().copied().find(|t| key(*t) == s.as_ref());
                if found.is_none() {
                    self.err(
                        &v.span(),
                        path,
                        format!("unknown value `{s}`; allowed: {}", quoted(&allowed)),
                    );
                }
                found
            }
            other => {
                self.err(
                    &v.span(),
                    path,
                    format!(
                        "expected one of {}, found a {}",
                        quoted(&allowed),
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    fn integer(&mut self, v: &Value<'_>, path: &str, what: &str) -> Option<i128> {
        match v.get_ref() {
            DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.err(
                        &v.span(),
                        path,
                        format!("{} is out of range for {what}", i.as_str()),
                    );
                    None
                }
            },
            DeValue::Float(x) => {
                self.err(
                    &v.span(),
                    path,
                    format!("{} is fractional; {what}", x.as_str()),
                );
                None
            }
            other => {
                self.err(
                    &v.span(),
                    path,
                    format!("expected {what}, found a {}", type_name(other)),
                );
                None
            }
        }
    }

    fn fen(&mut self, v: &Value<'_>, path: &str) -> Option<u64> {
        const WHAT: &str = "money is whole fen (分) ≥ 0";
        let n = self.integer(v, path, WHAT)?;
        match u64::try_from(n) {
            Ok(n) => Some(n),
            Err(_) if n < 0 => {
                self.err(&v.span(), path, format!("{n} is negative; {WHAT}"));
                None
            }
            Err(_) => {
                self.err(&v.span(), path, format!("{n} is too large; {WHAT}"));
                None
            }
        }
    }

    fn bounded(
        &mut self,
        v: &Value<'_>,
        path: &str,
        min: i128,
        max: i128,
        what: &str,
    ) -> Option<i128> {
        let n = self.integer(v, path, what)?;
        if (min..=max).contains(&n) {
            Some(n)
        } else {
            self.err(
                &v.span(),
                path,
                format!("{n} is outside {min}..={max}; {what}"),
            );
            None
        }
    }

    fn date(&mut self, v: &Value<'_>, path: &str) -> Option<Date> {
        const WHAT: &str = "expected a date such as 2023-01-01 (no quotes, no time)";
        match v.get_ref() {
            DeValue::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
                let d = dt.date?;
                match (
                    i16::try_from(d.year),
                    i8::try_from(d.month),
                    i8::try_from(d.day),
                ) {
                    (Ok(y), Ok(m), Ok(day)) => match Date::new(y, m, day) {
                        Ok(date) => Some(date),
                        Err(e) => {
                            self.err(&v.span(), path, format!("not a valid date: {e}"));
                            None
                        }
                    },
                    _ => {
                        self.err(&v.span(), path, "not a valid date");
                        None
                    }
                }
            }
            DeValue::Datetime(_) => {
                self.err(&v.span(), path, WHAT);
                None
            }
            other => {
                self.err(
                    &v.span(),
                    path,
                    format!("{WHAT}; found a {}", type_name(other)),
                );
                None
            }
        }
    }

    fn array<'t, 'i>(&mut self, v: &'t Value<'i>, path: &str) -> Option<&'t [Value<'i>]> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a),
            other => {
                self.err(
                    &v.span(),
                    path,
                    format!("expected an array, found a {}", type_name(other)),
                );
                None
            }
        }
    }
}

/// Checks a GB/T 2260 code against the level it claims.
fn check_code(code: &str, level: Level) -> Result<(), String> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{code}` is not a GB/T 2260 code: six digits expected"
        ));
    }
    let (pp, cc, dd) = (&code[0..2], &code[2..4], &code[4..6]);
    if level == Level::National {
        return if code == "000000" {
            Ok(())
        } else {
            Err(format!("a national list has code 000000, not `{code}`"))
        };
    }
    if !PROVINCES.contains(&pp) {
        return Err(format!(
            "`{code}`: `{pp}` is not a GB/T 2260 province prefix"
        ));
    }
    let ok = match level {
        Level::National => true,
        Level::Province => cc == "00" && dd == "00",
        Level::City => cc != "00" && dd == "00",
        Level::County => dd != "00",
    };
    if ok {
        Ok(())
    } else {
        let shape = match level {
            Level::Province => "XX0000",
            Level::City => "XXYY00 with YY not 00",
            _ => "XXYYZZ with ZZ not 00",
        };
        Err(format!(
            "`{code}` is not a {level} code: a {level} code has the form {shape}"
        ))
    }
}

/// Checks that `parent` is a code above `code` in the GB/T 2260 hierarchy.
fn check_parent(code: &str, level: Level, parent: &str) -> Result<(), String> {
    if parent.len() != 6 || !parent.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{parent}` is not a GB/T 2260 code: six digits expected"
        ));
    }
    if parent == "000000" {
        return Ok(());
    }
    let above = match level {
        Level::National => false,
        Level::Province => false,
        Level::City => parent == format!("{}0000", &code[0..2]),
        Level::County => {
            parent == format!("{}0000", &code[0..2]) || parent == format!("{}00", &code[0..4])
        }
    };
    if above {
        Ok(())
    } else {
        Err(format!(
            "`{parent}` is not above `{code}`: a parent is 000000, the province ({}0000){}",
            code.get(0..2).unwrap_or("XX"),
            if level == Level::County {
                format!(" or the city ({}00)", code.get(0..4).unwrap_or("XXYY"))
            } else {
                String::new()
            }
        ))
    }
}

fn is_kebab(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('-')
        && !key.ends_with('-')
        && !key.contains("--")
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

const PREDICATE_KEYS: &[&str] = &[
    "always",
    "all",
    "any",
    "not",
    "age",
    "hukou",
    "ability",
    "assistance",
    "disability",
    "living",
    "family-planning-special",
    "veteran-entitled",
];

impl Reader<'_> {
    fn predicate(&mut self, v: &Value<'_>, path: &str) -> Option<Predicate> {
        let t = self.table(v, path)?;
        if t.is_empty() {
            self.err(
                &v.span(),
                path,
                "empty condition; write `{ always = true }` for everyone",
            );
            return None;
        }
        let mut entries: Vec<_> = t.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut parts = Vec::new();
        let mut ok = true;
        for (k, v) in entries {
            match self.predicate_part(k.get_ref(), &k.span(), v, &join_path(path, k.get_ref())) {
                Some(p) => parts.push(p),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        Some(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Predicate::All(parts)
        })
    }

    fn predicate_list(&mut self, v: &Value<'_>, path: &str) -> Option<Vec<Predicate>> {
        let items = self.array(v, path)?;
        if items.is_empty() {
            self.err(
                &v.span(),
                path,
                "an empty list of conditions; give at least one",
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.predicate(item, &format!("{path}[{i}]")) {
                Some(p) => out.push(p),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn predicate_part(
        &mut self,
        key: &str,
        key_span: &Range<usize>,
        v: &Value<'_>,
        path: &str,
    ) -> Option<Predicate> {
        let atom = |a| Some(Predicate::Atom(a));
        match key {
            "always" => match self.boolean(v, path)? {
                true => Some(Predicate::Always),
                false => {
                    self.err(&v.span(), path, "`always` can only be true");
                    None
                }
            },
            "all" => self.predicate_list(v, path).map(Predicate::All),
            "any" => self.predicate_list(v, path).map(Predicate::Any),
            "not" => self.predicate(v, path).map(|p| Predicate::Not(Box::new(p))),
            "age" => {
                let t = self.table(v, path)?;
                self.only(t, path, &["min", "max"]);
                let what = "ages are whole years 60..=120 (120 means 120 or older)";
                let lo = get(t, "min").map(|m| {
                    self.bounded(
                        m,
                        &join_path(path, "min"),
                        MIN_AGE.into(),
                        MAX_AGE.into(),
                        what,
                    )
                });
                let hi = get(t, "max").map(|m| {
                    self.bounded(
                        m,
                        &join_path(path, "max"),
                        MIN_AGE.into(),
                        MAX_AGE.into(),
                        what,
                    )
                });
                if lo.is_none() && hi.is_none() {
                    self.err(&v.span(), path, "give `min`, `max` or both");
                    return None;
                }
                let min = u8::try_from(lo.unwrap_or(Some(MIN_AGE.into()))?).ok()?;
                let max = u8::try_from(hi.unwrap_or(Some(MAX_AGE.into()))?).ok()?;
                if min > max {
                    self.err(&v.span(), path, format!("min {min} is above max {max}"));
                    return None;
                }
                atom(Atom::Age { min, max })
            }
            "hukou" => atom(Atom::Hukou(self.choice(v, path, Hukou::ALL, Hukou::key)?)),
            "ability" => atom(Atom::Ability(self.cmp(
                v,
                path,
                Ability::ALL,
                Ability::key,
            )?)),
            "assistance" => atom(Atom::Assistance(self.cmp(
                v,
                path,
                Assistance::ALL,
                Assistance::key,
            )?)),
            "disability" => atom(Atom::Disability(self.cmp(
                v,
                path,
                Disability::ALL,
                Disability::key,
            )?)),
            "living" => {
                let t = self.table(v, path)?;
                self.only(t, path, &["any-of"]);
                let list = self.required(t, &v.span(), path, "any-of")?;
                atom(Atom::Living(self.choices(
                    list,
                    &join_path(path, "any-of"),
                    LivingFlag::ALL,
                    LivingFlag::key,
                )?))
            }
            "family-planning-special" => atom(Atom::FamilyPlanningSpecial(self.boolean(v, path)?)),
            "veteran-entitled" => atom(Atom::VeteranEntitled(self.boolean(v, path)?)),
            other => {
                self.err(
                    key_span,
                    path,
                    format!(
                        "`{other}` is not a person field or connective; allowed: {}",
                        quoted(PREDICATE_KEYS)
                    ),
                );
                None
            }
        }
    }

    fn choices<T: Copy>(
        &mut self,
        v: &Value<'_>,
        path: &str,
        all: &[T],
        key: impl Fn(T) -> &'static str + Copy,
    ) -> Option<Vec<T>> {
        let items = self.array(v, path)?;
        if items.is_empty() {
            self.err(&v.span(), path, "an empty set; give at least one value");
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.choice(item, &format!("{path}[{i}]"), all, key) {
                Some(x) => out.push(x),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn cmp<T: Copy>(
        &mut self,
        v: &Value<'_>,
        path: &str,
        all: &[T],
        key: impl Fn(T) -> &'static str + Copy,
    ) -> Option<Cmp<T>> {
        let t = self.table(v, path)?;
        self.only(t, path, &["at-least", "in"]);
        match (get(t, "at-least"), get(t, "in")) {
            (Some(x), None) => Some(Cmp::AtLeast(self.choice(
                x,
                &join_path(path, "at-least"),
                all,
                key,
            )?)),
            (None, Some(x)) => Some(Cmp::In(self.choices(
                x,
                &join_path(path, "in"),
                all,
                key,
            )?)),
            _ => {
                self.err(&v.span(), path, "give exactly one of `at-least` or `in`");
                None
            }
        }
    }

    fn provenance(&mut self, v: &Value<'_>, path: &str) -> Option<Provenance> {
        let t = self.table(v, path)?;
        let span = v.span();
        self.only(
            t,
            path,
            &["quality", "title", "url", "quote", "illustrative", "note"],
        );
        let quality = self
            .required(t, &span, path, "quality")
            .and_then(|q| self.choice(q, &join_path(path, "quality"), Quality::ALL, Quality::key));
        let illustrative = self
            .required(t, &span, path, "illustrative")
            .and_then(|b| self.boolean(b, &join_path(path, "illustrative")));
        let title = self.opt_string(t, path, "title");
        let url = self.opt_string(t, path, "url");
        let quote = self.opt_string(t, path, "quote");
        let note = self.opt_string(t, path, "note");
        let (quality, illustrative) = (quality?, illustrative?);
        if !illustrative && matches!(quality, Quality::Agg | Quality::None) {
            self.err(
                &span,
                &join_path(path, "illustrative"),
                format!(
                    "a figure of quality {quality} is illustrative only: set `illustrative = true`"
                ),
            );
            return None;
        }
        if quality != Quality::None && title.is_none() && url.is_none() {
            self.err(
                &span,
                path,
                format!("a {quality} source needs a `title` or a `url`"),
            );
            return None;
        }
        Some(Provenance {
            quality,
            title,
            url,
            quote,
            illustrative,
            note,
        })
    }

    /// Reads the figures of `kind` from `t` (a benefit or a tier table).
    fn figures(
        &mut self,
        t: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        kind: BenefitKind,
    ) -> Option<Benefit> {
        let req = |r: &mut Self, key: &str| {
            r.required(t, span, path, key)
                .map(|v| (v.clone(), join_path(path, key)))
        };
        let benefit = match kind {
            BenefitKind::MonthlyCash => {
                let (v, p) = req(self, "fen")?;
                Benefit::MonthlyCash {
                    fen: self.fen(&v, &p)?,
                }
            }
            BenefitKind::Quota => {
                let count = req(self, "count");
                let months = req(self, "months");
                let (c, cp) = count?;
                let (m, mp) = months?;
                let count = self.bounded(
                    &c,
                    &cp,
                    1,
                    u32::MAX.into(),
                    "a quota gives at least 1 service",
                );
                let months = self.bounded(
                    &m,
                    &mp,
                    1,
                    u32::MAX.into(),
                    "quota months must be at least 1",
                );
                Benefit::Quota(Quota {
                    count: u32::try_from(count?).ok()?,
                    months: u32::try_from(months?).ok()?,
                })
            }
            BenefitKind::OneOff => {
                let fixed = req(self, "fixed");
                let percent = req(self, "percent");
                let cap = req(self, "cap");
                let (f, fp) = fixed?;
                let (p, pp) = percent?;
                let (c, cp) = cap?;
                let fixed = self.fen(&f, &fp);
                let percent = self.bounded(&p, &pp, 0, 100, "a percent is 0..=100");
                let cap = self.fen(&c, &cp);
                Benefit::OneOff(OneOff {
                    fixed: fixed?,
                    percent: u8::try_from(percent?).ok()?,
                    cap: cap?,
                })
            }
            BenefitKind::Voucher => {
                let percent = req(self, "percent");
                let cap = req(self, "monthly-cap");
                let (p, pp) = percent?;
                let (c, cp) = cap?;
                let percent = self.bounded(&p, &pp, 0, 100, "a percent is 0..=100");
                let cap = self.fen(&c, &cp);
                Benefit::Voucher(Voucher {
                    percent: u8::try_from(percent?).ok()?,
                    monthly_cap: cap?,
                })
            }
            BenefitKind::Right => Benefit::Right,
        };
        Some(benefit)
    }
}

fn figure_keys(kind: BenefitKind) -> &'static [&'static str] {
    match kind {
        BenefitKind::MonthlyCash => &["fen"],
        BenefitKind::Quota => &["count", "months"],
        BenefitKind::OneOff => &["fixed", "percent", "cap"],
        BenefitKind::Voucher => &["percent", "monthly-cap"],
        BenefitKind::Right => &[],
    }
}

const KINDS: &[BenefitKind] = &[
    BenefitKind::MonthlyCash,
    BenefitKind::Quota,
    BenefitKind::OneOff,
    BenefitKind::Voucher,
    BenefitKind::Right,
];

struct RawTier {
    tier: Tier,
    span: Range<usize>,
    path: String,
}

impl Reader<'_> {
    fn provenance_of(
        &mut self,
        t: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        kind: BenefitKind,
        source: &Source,
    ) -> Option<Provenance> {
        match get(t, "provenance") {
            Some(v) => self.provenance(v, &join_path(path, "provenance")),
            None if kind == BenefitKind::Right => Some(Provenance::of_source(source)),
            None => {
                self.err(
                    span,
                    &join_path(path, "provenance"),
                    "missing required key `provenance`: every figure says where it comes from (use `illustrative = true, quality = \"NONE\"` for a figure made up for the sample)",
                );
                None
            }
        }
    }

    fn item(
        &mut self,
        v: &Value<'_>,
        index: usize,
        source: &Source,
    ) -> Option<(Item, Vec<RawTier>, Range<usize>, String)> {
        let span = v.span();
        let key_hint = match v.get_ref() {
            DeValue::Table(t) => {
                get(t, "key").and_then(|k| k.get_ref().as_str().map(str::to_string))
            }
            _ => None,
        };
        let path = match &key_hint {
            Some(k) => format!("items[{index}] ({k})"),
            None => format!("items[{index}]"),
        };
        let t = self.table(v, &path)?;
        self.only(
            t,
            &path,
            &[
                "key",
                "name",
                "category",
                "legal-basis",
                "eligibility",
                "presence-only",
                "benefit",
                "content",
                "standard",
                "funding",
                "department",
            ],
        );
        let key = self.req_string(t, &span, &path, "key");
        if let (Some(k), Some(kv)) = (&key, get(t, "key"))
            && !is_kebab(k)
        {
            self.err(
                &kv.span(),
                &join_path(&path, "key"),
                format!("`{k}` is not a lower-case kebab-case key (a-z, 0-9 and single hyphens)"),
            );
        }
        let name = self.req_string(t, &span, &path, "name");
        let category = self.required(t, &span, &path, "category").and_then(|c| {
            self.choice(
                c,
                &join_path(&path, "category"),
                Category::ALL,
                Category::key,
            )
        });
        let legal_basis = self.req_string(t, &span, &path, "legal-basis");
        let content = self.opt_string(t, &path, "content").map(Shared::from);
        let standard = self.opt_string(t, &path, "standard").map(Shared::from);
        let funding = self.opt_string(t, &path, "funding").map(Shared::from);
        let department = self.opt_string(t, &path, "department").map(Shared::from);
        let eligibility = self
            .required(t, &span, &path, "eligibility")
            .and_then(|e| self.predicate(e, &join_path(&path, "eligibility")));
        let presence_only = match get(t, "presence-only") {
            Some(p) => self.boolean(p, &join_path(&path, "presence-only")),
            None => Some(false),
        };
        let benefit = get(t, "benefit");
        let mut tiers = Vec::new();
        let mut kind = None;
        match (presence_only, benefit) {
            (Some(true), Some(b)) => {
                self.err(
                    &b.span(),
                    &join_path(&path, "benefit"),
                    "a presence-only item sets no benefit; remove `benefit` or `presence-only`",
                );
            }
            (Some(true), None) => {
                kind = Some(BenefitKind::Right);
                tiers.push(RawTier {
                    tier: Tier {
                        when: Predicate::Always,
                        label: None,
                        benefit: Benefit::Right,
                        provenance: Provenance::of_source(source),
                        compiled: Predicate::Always.compile().ok()?,
                    },
                    span: span.clone(),
                    path: path.clone(),
                });
            }
            (Some(false), None) => {
                self.err(
                    &span,
                    &join_path(&path, "benefit"),
                    "missing required key `benefit` (or `presence-only = true` when the list sets no figure)",
                );
            }
            (Some(false), Some(b)) => {
                let bpath = join_path(&path, "benefit");
                if let Some((k, ts)) = self.benefit(b, &bpath, source) {
                    kind = Some(k);
                    tiers = ts;
                }
            }
            (None, _) => {}
        }
        let eligibility = eligibility?;
        let compiled = match eligibility.compile() {
            Ok(c) => c,
            Err(e) => {
                let at = get(t, "eligibility").map_or(span.clone(), |e| e.span());
                self.err(&at, &join_path(&path, "eligibility"), e);
                return None;
            }
        };
        if compiled.is_never() {
            let at = get(t, "eligibility").map_or(span.clone(), |e| e.span());
            self.err(
                &at,
                &join_path(&path, "eligibility"),
                "the condition holds for nobody",
            );
            return None;
        }
        let item = Item {
            key: key?.into(),
            name: name?.into(),
            category: category?,
            legal_basis: legal_basis?.into(),
            presence_only: presence_only?,
            eligibility,
            kind: kind?,
            tiers: tiers.iter().map(|t| t.tier.clone()).collect(),
            content,
            standard,
            funding,
            department,
            compiled,
        };
        Some((item, tiers, span, path))
    }

    fn benefit(
        &mut self,
        v: &Value<'_>,
        path: &str,
        source: &Source,
    ) -> Option<(BenefitKind, Vec<RawTier>)> {
        let t = self.table(v, path)?;
        let span = v.span();
        let kind = self
            .required(t, &span, path, "kind")
            .and_then(|k| self.choice(k, &join_path(path, "kind"), KINDS, BenefitKind::key))?;
        let figures = figure_keys(kind);
        if let Some(tiers_v) = get(t, "tiers") {
            self.only(t, path, &["kind", "tiers"]);
            let tpath = join_path(path, "tiers");
            let list = self.array(tiers_v, &tpath)?;
            if list.is_empty() {
                self.err(
                    &tiers_v.span(),
                    &tpath,
                    "an empty list of tiers; give at least one or drop `tiers`",
                );
                return None;
            }
            let mut out = Vec::new();
            let mut ok = true;
            for (i, tv) in list.iter().enumerate() {
                let p = format!("{tpath}[{i}]");
                match self.tier(tv, &p, kind, figures, source) {
                    Some(tier) => out.push(RawTier {
                        tier,
                        span: tv.span(),
                        path: p,
                    }),
                    None => ok = false,
                }
            }
            ok.then_some((kind, out))
        } else {
            let mut allowed = vec!["kind", "provenance", "tiers"];
            allowed.extend_from_slice(figures);
            self.only(t, path, &allowed);
            let benefit = self.figures(t, &span, path, kind);
            let provenance = self.provenance_of(t, &span, path, kind, source);
            let (benefit, provenance) = (benefit?, provenance?);
            let tier = Tier {
                when: Predicate::Always,
                label: None,
                benefit,
                provenance,
                compiled: Predicate::Always.compile().ok()?,
            };
            Some((
                kind,
                vec![RawTier {
                    tier,
                    span,
                    path: path.to_string(),
                }],
            ))
        }
    }

    fn tier(
        &mut self,
        v: &Value<'_>,
        path: &str,
        kind: BenefitKind,
        figures: &[&str],
        source: &Source,
    ) -> Option<Tier> {
        let t = self.table(v, path)?;
        let span = v.span();
        let mut allowed = vec!["when", "label", "provenance"];
        allowed.extend_from_slice(figures);
        self.only(t, path, &allowed);
        let when = self
            .required(t, &span, path, "when")
            .and_then(|w| self.predicate(w, &join_path(path, "when")));
        let label = self.opt_string(t, path, "label");
        let benefit = self.figures(t, &span, path, kind);
        let provenance = self.provenance_of(t, &span, path, kind, source);
        let when = when?;
        let compiled = match when.compile() {
            Ok(c) => c,
            Err(e) => {
                self.err(&span, &join_path(path, "when"), e);
                return None;
            }
        };
        let label = label.unwrap_or_else(|| when.to_string());
        Some(Tier {
            when,
            label: Some(label),
            benefit: benefit?,
            provenance: provenance?,
            compiled,
        })
    }

    /// Every eligible person falls in exactly one tier. Checked over the
    /// whole domain, one person per cell of the partition on which the item's
    /// conditions are constant (see `Cells`), in domain order, so the person
    /// named is the smallest that fails.
    fn check_tiers(&mut self, item: &Item, tiers: &[RawTier], item_path: &str) {
        if tiers.len() < 2 && tiers.iter().all(|t| t.tier.when == Predicate::Always) {
            return;
        }
        let mut gap: Option<Person> = None;
        let mut overlap: Option<(usize, usize, Person)> = None;
        let mut hits = vec![false; tiers.len()];
        let mut preds: Vec<&super::Compiled> = tiers.iter().map(|t| &t.tier.compiled).collect();
        preds.push(&item.compiled);
        super::predicate::Cells::of(preds).for_each_smallest(|p| {
            let p = *p;
            let probe = super::Probe::of(&p);
            if !item.compiled.matches(&probe) {
                return true;
            }
            let mut first = None;
            for (j, t) in tiers.iter().enumerate() {
                if t.tier.compiled.matches(&probe) {
                    hits[j] = true;
                    match first {
                        None => first = Some(j),
                        Some(i) => {
                            if overlap.is_none() {
                                overlap = Some((i, j, p));
                            }
                        }
                    }
                }
            }
            if first.is_none() && gap.is_none() {
                gap = Some(p);
            }
            !(gap.is_some() && overlap.is_some())
        });
        let tiers_path = join_path(&join_path(item_path, "benefit"), "tiers");
        if let Some(p) = gap {
            let at = tiers.first().map_or(0..0, |t| t.span.clone());
            self.err(
                &at,
                &tiers_path,
                format!(
                    "no tier covers person #{} ({}), who is eligible ({}); tiers must leave no gap",
                    p.index(),
                    person_text(&p),
                    item.eligibility
                ),
            );
        }
        if let Some((i, j, p)) = overlap {
            let (at, tp) = tiers.get(j).map_or((0..0, tiers_path.clone()), |t| {
                (t.span.clone(), t.path.clone())
            });
            self.err(
                &at,
                &tp,
                format!(
                    "overlaps tiers[{i}]: both cover person #{} ({}); tiers must not overlap",
                    p.index(),
                    person_text(&p)
                ),
            );
        } else {
            for (j, hit) in hits.iter().enumerate() {
                if !hit && let Some(t) = tiers.get(j) {
                    self.err(&t.span, &t.path, "this tier covers no eligible person");
                }
            }
        }
    }
}

/// A reader of `text` and the TOML document parsed from it; text that is
/// not TOML is an error with its position.
fn start<'a>(
    text: &'a str,
    path: &'a Path,
) -> Result<(Reader<'a>, Spanned<DeTable<'a>>), CatalogueErrors> {
    let mut r = Reader {
        text,
        path,
        errors: Vec::new(),
    };
    match DeTable::parse(text) {
        Ok(doc) => Ok((r, doc)),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            r.err(&span, "", format!("not valid TOML: {}", e.message()));
            Err(finish(r.errors))
        }
    }
}

pub(crate) fn parse(text: &str, path: &Path) -> Result<Catalogue, CatalogueErrors> {
    let (mut r, doc) = start(text, path)?;
    let doc_span = doc.span();
    let doc = doc.get_ref();
    r.only(doc, "", &["jurisdiction", "source", "items"]);

    // [jurisdiction]
    let mut spans = Spans::default();
    let jur = r
        .required(doc, &(0..0), "", "jurisdiction")
        .and_then(|v| r.table(v, "jurisdiction").map(|t| (t, v.span())));
    let mut jurisdiction = None;
    let mut parent = None;
    let mut edition = None;
    let mut from = None;
    let mut to = None;
    if let Some((t, span)) = jur {
        let p = "jurisdiction";
        r.only(
            t,
            p,
            &[
                "code",
                "name",
                "level",
                "parent",
                "edition",
                "effective-from",
                "effective-to",
            ],
        );
        let code = r.req_string(t, &span, p, "code");
        let name = r.req_string(t, &span, p, "name");
        let level = r
            .required(t, &span, p, "level")
            .and_then(|v| r.choice(v, "jurisdiction.level", Level::ALL, Level::key));
        if let (Some(code), Some(level), Some(cv)) = (&code, level, get(t, "code"))
            && let Err(e) = check_code(code, level)
        {
            r.err(&cv.span(), "jurisdiction.code", e);
        }
        match (get(t, "parent"), level) {
            (Some(pv), Some(Level::National)) => {
                r.err(&pv.span(), "jurisdiction.parent", "the national list has no parent; remove `parent`");
            }
            (None, Some(Level::National)) | (None, None) => {}
            (None, Some(_)) => r.err(
                &span,
                "jurisdiction.parent",
                "missing required key `parent`: the code of the list this one must not fall below (000000 for the national list)",
            ),
            (Some(pv), level) => {
                spans.parent = line_col(text, pv.span().start);
                if let Some(pc) = r.string(pv, "jurisdiction.parent") {
                    if let (Some(code), Some(level)) = (&code, level)
                        && check_code(code, level).is_ok()
                        && let Err(e) = check_parent(code, level, &pc)
                    {
                        r.err(&pv.span(), "jurisdiction.parent", e);
                    }
                    parent = Some(pc);
                }
            }
        }
        edition = r.req_string(t, &span, p, "edition");
        if let Some(v) = r.required(t, &span, p, "effective-from") {
            spans.effective_from = line_col(text, v.span().start);
            from = r.date(v, "jurisdiction.effective-from");
        }
        if let Some(v) = get(t, "effective-to") {
            to = r.date(v, "jurisdiction.effective-to");
            if let (Some(f), Some(t)) = (from, to)
                && t < f
            {
                r.err(
                    &v.span(),
                    "jurisdiction.effective-to",
                    format!("{t} is before effective-from {f}"),
                );
            }
        }
        if let (Some(code), Some(name), Some(level)) = (code, name, level) {
            jurisdiction = Some(Jurisdiction { code, name, level });
        }
    }

    // [source]
    let mut source = None;
    if let Some(v) = r.required(doc, &(0..0), "", "source")
        && let Some(t) = r.table(v, "source")
    {
        let span = v.span();
        r.only(t, "source", &["title", "url", "quality"]);
        let title = r.req_string(t, &span, "source", "title");
        let url = r.opt_string(t, "source", "url");
        let quality = r
            .required(t, &span, "source", "quality")
            .and_then(|q| r.choice(q, "source.quality", Quality::ALL, Quality::key));
        if let (Some(title), Some(quality)) = (title, quality) {
            source = Some(Source {
                title,
                url,
                quality,
            });
        }
    }
    let fallback = Source {
        title: String::new(),
        url: None,
        quality: Quality::None,
    };

    // [[items]]
    let mut items = Vec::new();
    if let Some(v) = r.required(doc, &doc_span, "", "items")
        && let Some(list) = r.array(v, "items")
    {
        if list.is_empty() {
            r.err(&v.span(), "items", "a list needs at least one item");
        }
        if list.len() > MAX_ITEMS {
            r.err(
                &v.span(),
                "items",
                format!(
                    "{} items is more than the {MAX_ITEMS} a list can have",
                    list.len()
                ),
            );
        }
        let mut seen: Vec<(String, usize)> = Vec::new();
        for (i, iv) in list.iter().enumerate() {
            if let Some((item, tiers, span, path)) =
                r.item(iv, i, source.as_ref().unwrap_or(&fallback))
            {
                if let Some((_, j)) = seen.iter().find(|(k, _)| item.key == *k) {
                    let at = match iv.get_ref() {
                        DeValue::Table(t) => get(t, "key").map_or(span.clone(), |k| k.span()),
                        _ => span.clone(),
                    };
                    r.err(
                        &at,
                        &join_path(&path, "key"),
                        format!(
                            "duplicate item key `{}`: items[{j}] has it already",
                            item.key
                        ),
                    );
                    continue;
                }
                seen.push((item.key.to_string(), i));
                r.check_tiers(&item, &tiers, &path);
                items.push(item);
            }
        }
    }

    if !r.errors.is_empty() {
        return Err(finish(r.errors));
    }
    match (jurisdiction, edition, from, source) {
        (Some(jurisdiction), Some(edition), Some(effective_from), Some(source)) => Ok(Catalogue {
            path: path.to_path_buf(),
            jurisdiction,
            parent,
            edition,
            effective_from,
            effective_to: to,
            source,
            items,
            digest: crate::table::digest_of(text.as_bytes()),
            spans,
        }),
        _ => {
            r.err(&(0..0), "", "incomplete catalogue");
            Err(finish(r.errors))
        }
    }
}

fn finish(mut errors: Vec<(usize, CatalogueError)>) -> CatalogueErrors {
    errors.sort_by_key(|(at, _)| *at);
    errors.dedup_by(|a, b| a.1 == b.1);
    CatalogueErrors(errors.into_iter().map(|(_, e)| e).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Library, accepts};
    use crate::model::{Hukou, Shortfall};

    const BASE: &str = r#"[jurisdiction]
code = "330200"
name = "宁波市"
level = "city"
parent = "330000"
edition = "2023"
effective-from = 2023-01-01

[source]
title = "宁波市基本养老服务清单"
quality = "GOV"
url = "https://example.invalid/ningbo"

[[items]]
key = "old-age-allowance"
name = "高龄津贴"
category = "material-assistance"
legal-basis = "高龄津贴制度"
eligibility = { age = { min = 80 }, hukou = "local" }
benefit = { kind = "monthly-cash", tiers = [
  { when = { age = { min = 80, max = 89 } }, fen = 6000, provenance = { quality = "NONE", illustrative = true } },
  { when = { age = { min = 90, max = 99 } }, fen = 10000, provenance = { quality = "NONE", illustrative = true } },
  { when = { age = { min = 100 } }, fen = 80000, provenance = { quality = "NONE", illustrative = true } },
] }

[[items]]
key = "visits"
name = "探访关爱"
category = "caring-service"
legal-basis = "探访关爱"
eligibility = { living = { any-of = ["alone"] } }
benefit = { kind = "quota", count = 1, months = 1, provenance = { quality = "NONE", illustrative = true } }

[[items]]
key = "vagrant-relief"
name = "流浪乞讨人员救助"
category = "material-assistance"
legal-basis = "救助"
eligibility = { always = true }
presence-only = true

[[items]]
key = "home-service-voucher"
name = "消费券"
category = "care-service"
legal-basis = "消费券"
eligibility = { ability = { at-least = "moderate" } }
benefit = { kind = "voucher", percent = 50, monthly-cap = 80000, provenance = { quality = "NONE", illustrative = true } }
"#;

    const FILE: &str = "catalogues/test.toml";

    fn parse_ok(text: &str) -> Catalogue {
        match Catalogue::parse(text, Path::new(FILE)) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn errors(text: &str) -> Vec<CatalogueError> {
        Catalogue::parse(text, Path::new(FILE)).unwrap_err().0
    }

    /// Replaces `from` (which must occur once) and returns the new text and the
    /// 1-based line and column of the replacement.
    fn edit(from: &str, to: &str) -> (String, usize, usize) {
        assert_eq!(BASE.matches(from).count(), 1, "{from}");
        let at = BASE.find(from).unwrap();
        let text = BASE.replacen(from, to, 1);
        let (line, col) = line_col(&text, at);
        (text, line, col)
    }

    /// Asserts exactly one error, at the edit (plus `shift` characters), for
    /// `field`, whose problem contains `needle`.
    fn one_error(from: &str, to: &str, shift: usize, field: &str, needle: &str) -> CatalogueError {
        let (_, line, col) = edit(from, to);
        error_at(from, to, (line, col + shift), field, needle)
    }

    /// Like `one_error`, with the expected position given.
    fn error_at(
        from: &str,
        to: &str,
        at: (usize, usize),
        field: &str,
        needle: &str,
    ) -> CatalogueError {
        let (text, _, _) = edit(from, to);
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        let e = errs.into_iter().next().unwrap();
        assert_eq!((e.line, e.column), at, "{e}");
        assert_eq!(e.field, field, "{e}");
        assert!(e.problem.contains(needle), "{e}");
        assert_eq!(e.file, Path::new(FILE));
        e
    }

    #[test]
    fn the_base_text_is_valid() {
        let c = parse_ok(BASE);
        assert_eq!(c.items.len(), 4);
        assert_eq!(c.jurisdiction.level, Level::City);
        assert_eq!(c.parent.as_deref(), Some("330000"));
        assert!(c.items[2].presence_only);
        assert_eq!(c.items[0].tiers[1].label.as_deref(), Some("age 90–99"));
    }

    #[test]
    fn negative_fen_names_file_line_column_and_field() {
        let e = one_error(
            "fen = 10000",
            "fen = -100",
            6,
            "items[0] (old-age-allowance).benefit.tiers[1].fen",
            "-100 is negative; money is whole fen (分) ≥ 0",
        );
        assert_eq!(
            e.to_string(),
            format!(
                "catalogues/test.toml:{}:{}: items[0] (old-age-allowance).benefit.tiers[1].fen: -100 is negative; money is whole fen (分) ≥ 0",
                e.line, e.column
            )
        );
        assert_eq!(e.line, 22);
    }

    #[test]
    fn fractional_fen_is_refused() {
        one_error(
            "fen = 6000",
            "fen = 60.5",
            6,
            "items[0] (old-age-allowance).benefit.tiers[0].fen",
            "60.5 is fractional",
        );
    }

    #[test]
    fn percent_over_100_is_refused() {
        one_error(
            "percent = 50",
            "percent = 101",
            10,
            "items[3] (home-service-voucher).benefit.percent",
            "0..=100",
        );
    }

    #[test]
    fn quota_months_zero_is_refused() {
        one_error(
            "months = 1,",
            "months = 0,",
            9,
            "items[1] (visits).benefit.months",
            "at least 1",
        );
    }

    #[test]
    fn content_standard_funding_and_department_are_read() {
        let (text, _, _) = edit(
            "legal-basis = \"探访关爱\"",
            "legal-basis = \"探访关爱\"\ncontent = \"上门探访\"\nstandard = \"按照GB/T 43153-2023\"\nfunding = \"市、县两级财政\"\ndepartment = \"市民政局、市财政局\"",
        );
        let c = parse_ok(&text);
        let visits = &c.items[1];
        assert_eq!(visits.content.as_deref(), Some("上门探访"));
        assert_eq!(visits.standard.as_deref(), Some("按照GB/T 43153-2023"));
        let keys: Vec<_> = visits.details().iter().map(|d| d.key).collect();
        assert_eq!(keys, ["content", "standard", "funding", "department"]);
        assert_eq!(visits.details()[3].heading, "责任单位");
        // Optional: the other items give none.
        assert!(c.items[0].details().is_empty());
    }

    #[test]
    fn a_descriptive_field_must_be_a_non_empty_string() {
        // The new key is on the line after the edited one (line 31).
        error_at(
            "legal-basis = \"探访关爱\"",
            "legal-basis = \"探访关爱\"\nstandard = 3",
            (31, 12),
            "items[1] (visits).standard",
            "expected a string",
        );
        error_at(
            "legal-basis = \"探访关爱\"",
            "legal-basis = \"探访关爱\"\ndepartment = \" \"",
            (31, 14),
            "items[1] (visits).department",
            "must not be empty",
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_the_allowed_ones() {
        // The new key is on the line after the edited one (line 31).
        let e = error_at(
            "legal-basis = \"探访关爱\"",
            "legal-basis = \"探访关爱\"\ncolour = \"red\"",
            (31, 1),
            "items[1] (visits).colour",
            "unknown key `colour`",
        );
        assert!(e.problem.contains("`legal-basis`"), "{e}");
    }

    #[test]
    fn unknown_enum_values_list_the_allowed_ones() {
        let e = one_error(
            "level = \"city\"",
            "level = \"town\"",
            8,
            "jurisdiction.level",
            "unknown value `town`",
        );
        assert!(
            e.problem
                .contains("`national`, `province`, `city`, `county`"),
            "{e}"
        );
        one_error(
            "any-of = [\"alone\"]",
            "any-of = [\"lonely\"]",
            10,
            "items[1] (visits).eligibility.living.any-of[0]",
            "`alone`, `empty-nest`, `left-behind`, `childless-widowed`",
        );
    }

    #[test]
    fn a_predicate_on_a_missing_field_is_refused() {
        let e = one_error(
            "eligibility = { always = true }",
            "eligibility = { homeless = true }",
            16,
            "items[2] (vagrant-relief).eligibility.homeless",
            "`homeless` is not a person field",
        );
        assert!(e.problem.contains("`veteran-entitled`"), "{e}");
    }

    #[test]
    fn gap_and_overlap_report_the_person() {
        let (text, _, _) = edit(
            "{ age = { min = 90, max = 99 } }",
            "{ age = { min = 91, max = 99 } }",
        );
        let e = &errors(&text)[0];
        assert_eq!(e.line, 21);
        assert!(e.problem.contains("age 90, hukou local"), "{e}");
        let (text, line, _) = edit(
            "{ age = { min = 80, max = 89 } }",
            "{ age = { min = 80, max = 90 } }",
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].line, line + 1);
        assert_eq!(
            errs[0].field,
            "items[0] (old-age-allowance).benefit.tiers[1]"
        );
        assert!(
            errs[0]
                .problem
                .contains("overlaps tiers[0]: both cover person #"),
            "{}",
            errs[0]
        );
        assert!(
            errs[0].problem.contains("age 90, hukou local"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn duplicate_item_keys_are_refused() {
        one_error(
            "key = \"vagrant-relief\"",
            "key = \"visits\"",
            6,
            "items[2] (visits).key",
            "duplicate item key `visits`: items[1]",
        );
    }

    #[test]
    fn codes_must_be_gb_t_2260_and_match_the_level() {
        one_error(
            "code = \"330200\"",
            "code = \"33020\"",
            7,
            "jurisdiction.code",
            "six digits",
        );
        one_error(
            "code = \"330200\"",
            "code = \"330000\"",
            7,
            "jurisdiction.code",
            "not a city code",
        );
        one_error(
            "code = \"330200\"",
            "code = \"990200\"",
            7,
            "jurisdiction.code",
            "province prefix",
        );
        one_error(
            "parent = \"330000\"",
            "parent = \"320000\"",
            9,
            "jurisdiction.parent",
            "not above",
        );
    }

    #[test]
    fn effective_to_before_from_is_refused() {
        error_at(
            "effective-from = 2023-01-01",
            "effective-from = 2023-01-01\neffective-to = 2022-12-31",
            (8, 16),
            "jurisdiction.effective-to",
            "2022-12-31 is before effective-from 2023-01-01",
        );
    }

    #[test]
    fn every_figure_needs_provenance() {
        let text = BASE.replacen(
            "months = 1, provenance = { quality = \"NONE\", illustrative = true } }",
            "months = 1 }",
            1,
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        let at = text.find("{ kind = \"quota\"").unwrap();
        assert_eq!((errs[0].line, errs[0].column), line_col(&text, at));
        assert_eq!(errs[0].field, "items[1] (visits).benefit.provenance");
        assert!(
            errs[0]
                .problem
                .contains("every figure says where it comes from"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn aggregator_figures_must_be_illustrative() {
        let (text, _, _) = edit(
            "fen = 80000, provenance = { quality = \"NONE\", illustrative = true }",
            "fen = 80000, provenance = { quality = \"AGG\", url = \"x\", illustrative = false }",
        );
        let errs = errors(&text);
        assert!(errs[0].problem.contains("illustrative only"), "{errs:#?}");
    }

    #[test]
    fn all_errors_of_a_file_are_collected_in_order() {
        let text = BASE
            .replacen("fen = 6000", "fen = -1", 1)
            .replacen("level = \"city\"", "level = \"town\"", 1)
            .replacen("months = 1,", "months = 0,", 1);
        let errs = errors(&text);
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "jurisdiction.level",
                "items[0] (old-age-allowance).benefit.tiers[0].fen",
                "items[1] (visits).benefit.months"
            ]
        );
        let shown = CatalogueErrors(errs).to_string();
        assert_eq!(shown.lines().count(), 3);
    }

    #[test]
    fn toml_syntax_errors_have_a_position() {
        let errs = errors(&BASE.replacen("edition = \"2023\"", "edition = ", 1));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 6);
        assert!(errs[0].problem.contains("not valid TOML"), "{}", errs[0]);
    }

    #[test]
    fn library_refuses_overlapping_editions_and_missing_parents() {
        let a = parse_ok(BASE);
        let b = parse_ok(
            &BASE
                .replacen("edition = \"2023\"", "edition = \"2024\"", 1)
                .replacen("2023-01-01", "2024-01-01", 1),
        );
        let errs = Library::from_catalogues(vec![a.clone(), b]).unwrap_err().0;
        assert!(
            errs.iter().any(|e| e.field == "jurisdiction.effective-from"
                && e.line == 7
                && e.problem.contains("overlaps edition 2023")),
            "{errs:#?}"
        );
        assert!(
            errs.iter().any(|e| e.field == "jurisdiction.parent"
                && e.line == 5
                && e.column == 10
                && e.problem.contains("parent list 330000 cannot be found")),
            "{errs:#?}"
        );
        // Consecutive editions do not overlap.
        let earlier = parse_ok(
            &BASE
                .replacen("edition = \"2023\"", "edition = \"2019\"", 1)
                .replacen(
                    "effective-from = 2023-01-01",
                    "effective-from = 2019-04-04\neffective-to = 2022-12-31",
                    1,
                ),
        );
        assert!(!earlier.overlaps(&a));
    }

    #[test]
    fn explain_gives_the_tier_and_the_reason() {
        let c = parse_ok(BASE);
        let lines = c.explain(&Person::aged(92));
        let allowance = lines.iter().find(|l| l.item == 0).unwrap();
        assert_eq!(allowance.benefit, Benefit::MonthlyCash { fen: 10000 });
        assert_eq!(allowance.tier.as_deref(), Some("age 90–99"));
        assert_eq!(
            allowance.reason,
            "age 92 ≥ 80 and hukou local; tier age 90–99: age 92 in 90–99"
        );
        let relief = lines.iter().find(|l| l.item == 2).unwrap();
        assert_eq!(relief.benefit, Benefit::Right);
        assert_eq!(
            relief.provenance.title.as_deref(),
            Some("宁波市基本养老服务清单")
        );
        let non_local = Person {
            hukou: Hukou::NonLocal,
            ..Person::aged(92)
        };
        assert!(c.explain(&non_local).iter().all(|l| l.item != 0));
        // Under 60 is not an elder: no line at all, not the lines of a 60-year-old.
        assert!(c.explain(&Person::aged(59)).is_empty());
        let mut out = Vec::new();
        c.lines_into(&Person::aged(92), &mut out);
        assert_eq!(out.len(), lines.len());
        assert!(
            out.iter()
                .zip(&lines)
                .all(|(a, b)| usize::from(a.item) == b.item && a.benefit == b.benefit)
        );
    }

    #[test]
    fn presence_only_accepts_any_line_and_refuses_none() {
        let c = parse_ok(BASE);
        let relief = &c.items[2];
        let cash = Benefit::MonthlyCash { fen: 1 };
        assert_eq!(accepts(relief, Some(&cash), &Benefit::Right), Ok(()));
        assert_eq!(
            accepts(relief, Some(&Benefit::Right), &Benefit::Right),
            Ok(())
        );
        assert_eq!(
            accepts(relief, None, &Benefit::Right),
            Err(Shortfall::Missing)
        );
        let allowance = &c.items[0];
        assert_eq!(
            accepts(allowance, Some(&cash), &Benefit::MonthlyCash { fen: 6000 }),
            Err(Shortfall::Lower)
        );
    }
}
