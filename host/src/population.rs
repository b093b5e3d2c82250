//! Population runs: a county's list over a population file — beneficiaries
//! and monthly cost per item under the baseline and under the county list
//! (统计监测, budgeting), the name list of who is entitled to what (服务找人),
//! and the monthly reconciliation of payments against entitlements.
//!
//! # Served from the answer table, at the cost of a lookup per row
//!
//! A person's answer depends only on which baseline line set the person
//! falls in ([`BaselineTable`]) and which answer the county's table holds
//! for them ([`crate::table::AnswerTable::id_of`]): a pair of small
//! numbers. A run therefore parses each row into a [`Person`], takes its
//! pair with two lookups, and counts rows per pair; the guard's merge and
//! the per-item sums are computed once per distinct pair (a few hundred to
//! a few thousand), with exactly the evaluation production serves
//! ([`crate::evaluate::evaluate`]). Large files are cut at line breaks and
//! counted on every core.
//!
//! # Streamed
//!
//! A [`Counter`] takes a file in pieces as it arrives (an upload, a file
//! read in blocks) and counts whole lines each time
//! [`COUNT_PIECE_BYTES`] have gathered, so a run over a file of any size
//! holds a few megabytes of it; [`count`] is a counter fed the whole file
//! at once. Row numbers are the file's wherever the pieces are cut: each
//! thread numbers its rows from zero, and the numbers are moved once the
//! line counts before them are known. Only the impact is streamed; the
//! name list and the reconciliation read the whole file (they need every
//! row's identifiers).
//!
//! # Files
//!
//! CSV with a header row, or NDJSON (one JSON object per line). The person
//! columns are `age`, `hukou`, `ability`, `assistance`, `disability`
//! (required), `living` (flags separated by `|`, empty for none),
//! `family_planning_special` and `veteran_entitled` (`true`/`false`,
//! `1`/`0`; default false). Every other column is the file's own
//! identifier; identifiers never reach a plugin (no plugin runs at all) or
//! a log, and appear only in the name list and the reconciliation. A
//! malformed row is reported with its row number and field, and the rest is
//! still processed.

use crate::catalogue::{BaselineTable, Catalogue};
use crate::evaluate::{self, County, Served, Status};
use crate::model::{
    Ability, Assistance, Benefit, Disability, Hukou, Living, LivingFlag, MAX_AGE, MIN_AGE, Person,
};
use jiff::civil::Date;
use serde::Serialize;
use std::collections::HashMap;

/// At most this many malformed rows are listed (all are counted).
pub const MAX_LISTED_ERRORS: usize = 100;

/// The person fields, in column order of [`Columns::person`].
pub const PERSON_FIELDS: [&str; 8] = [
    "age",
    "hukou",
    "ability",
    "assistance",
    "disability",
    "living",
    "family_planning_special",
    "veteran_entitled",
];

/// The header of a CSV population file with one identifier column.
pub const CSV_HEADER: &str = "person_id,age,hukou,ability,assistance,disability,living,family_planning_special,veteran_entitled";

/// One CSV row of a person with an identifier (the inverse of reading it).
pub fn csv_row(id: &str, p: &Person) -> String {
    let living: Vec<&str> = p.living.flags().map(|f| f.key()).collect();
    format!(
        "{},{},{},{},{},{},{},{},{}",
        quote(id),
        p.age,
        p.hukou.key(),
        p.ability.key(),
        p.assistance.key(),
        p.disability.key(),
        living.join("|"),
        p.family_planning_special,
        p.veteran_entitled
    )
}

/// Why a population file cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PopulationError {
    /// The header lacks a required person column.
    #[error("the header has no {0} column (the person columns are {fields})", fields = PERSON_FIELDS.join(", "))]
    MissingColumn(&'static str),
    /// The file is empty.
    #[error("the file is empty: a CSV file starts with a header row")]
    Empty,
    /// The file is not UTF-8 text.
    #[error("row {row}: not UTF-8 text")]
    NotText {
        /// Row number (1 = header).
        row: u64,
    },
    /// The CSV header row has no line break within its limit.
    #[error("the header row is longer than {0} bytes")]
    HeaderTooLong(usize),
}

/// A malformed row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Row number in the file (1 is the header of a CSV file).
    pub row: u64,
    /// The field at fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Where the person fields are in a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// Column index of each of [`PERSON_FIELDS`].
    pub person: [Option<usize>; 8],
    /// The identifier columns: (index, name).
    pub ids: Vec<(usize, String)>,
    /// Number of columns.
    pub count: usize,
}

impl Columns {
    /// Reads a header row.
    pub fn from_header(header: &str) -> Result<Columns, PopulationError> {
        let names = split_csv(header.trim_end_matches(['\r', '\n']));
        let mut person = [None; 8];
        let mut ids = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let name = name.trim().trim_start_matches('\u{feff}');
            match PERSON_FIELDS.iter().position(|f| *f == name) {
                Some(f) => person[f] = Some(i),
                None => ids.push((i, name.to_string())),
            }
        }
        for (f, field) in PERSON_FIELDS.iter().enumerate().take(5) {
            if person[f].is_none() {
                return Err(PopulationError::MissingColumn(field));
            }
        }
        Ok(Columns {
            person,
            ids,
            count: names.len(),
        })
    }
}

/// Splits one CSV line into fields (RFC 4180 quotes; a quote inside a
/// quoted field is doubled).
pub fn split_csv(line: &str) -> Vec<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    if !line.contains('"') {
        return line.split(',').map(Cow::Borrowed).collect();
    }
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => out.push(Cow::Owned(std::mem::take(&mut field))),
            (c, _) => field.push(c),
        }
    }
    out.push(Cow::Owned(field));
    out
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "" | "false" | "0" | "no" | "否" | "FALSE" | "False" => Some(false),
        "true" | "1" | "yes" | "是" | "TRUE" | "True" => Some(true),
        _ => None,
    }
}

/// `s` without white space around it (checked at the ends first: the
/// fields of a population file rarely have any).
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if !a.is_ascii_whitespace() && !b.is_ascii_whitespace() => s,
        _ => s.trim(),
    }
}

/// The living flags of a field: keys separated by `|`, `;` or `+`, white
/// space around each ignored, empty pieces skipped. One pass over the
/// bytes (the separators are ASCII, so every piece is on a character
/// boundary).
fn parse_living(s: &str) -> Option<Living> {
    let mut living = Living::NONE;
    let mut start = 0;
    let bytes = s.as_bytes();
    for end in 0..=bytes.len() {
        if end < bytes.len() && !matches!(bytes[end], b'|' | b';' | b'+') {
            continue;
        }
        let flag = s.get(start..end)?.trim();
        if !flag.is_empty() {
            living = living.with(LivingFlag::from_key(flag)?);
        }
        start = end + 1;
    }
    Some(living)
}

/// Parses the person fields of one row (`get(i)` is field `i` of
/// [`PERSON_FIELDS`], `None` when the column is absent).
pub fn person_of<'a>(get: impl Fn(usize) -> Option<&'a str>) -> Result<Person, (String, String)> {
    let field = |i: usize| get(i).map(trim).unwrap_or("");
    let bad = |i: usize, expected: &str| {
        Err((
            PERSON_FIELDS[i].to_string(),
            format!("{:?} is not {expected}", crate::text::cap(field(i), 40)),
        ))
    };
    fn keys<T: Copy>(all: &[T], key: fn(T) -> &'static str) -> String {
        all.iter().map(|v| key(*v)).collect::<Vec<_>>().join(", ")
    }
    let age: u8 = match field(0).parse::<u32>() {
        Ok(a) if a < u32::from(MIN_AGE) => {
            return Err((
                "age".into(),
                format!("age {a} is under {MIN_AGE}: not an elder"),
            ));
        }
        Ok(a) => a.min(u32::from(MAX_AGE)) as u8,
        Err(_) => return bad(0, "an age in whole years"),
    };
    let Some(hukou) = Hukou::from_key(field(1)) else {
        return bad(1, "local or non-local");
    };
    let Some(ability) = Ability::from_key(field(2)) else {
        return bad(2, &format!("one of {}", keys(Ability::ALL, Ability::key)));
    };
    let Some(assistance) = Assistance::from_key(field(3)) else {
        return bad(
            3,
            &format!("one of {}", keys(Assistance::ALL, Assistance::key)),
        );
    };
    let Some(disability) = Disability::from_key(field(4)) else {
        return bad(
            4,
            &format!("one of {}", keys(Disability::ALL, Disability::key)),
        );
    };
    let Some(living) = parse_living(field(5)) else {
        return bad(
            5,
            &format!(
                "flags of {} separated by |",
                keys(LivingFlag::ALL, LivingFlag::key)
            ),
        );
    };
    let Some(family_planning_special) = parse_bool(field(6)) else {
        return bad(6, "true or false");
    };
    let Some(veteran_entitled) = parse_bool(field(7)) else {
        return bad(7, "true or false");
    };
    Ok(Person {
        age,
        hukou,
        ability,
        assistance,
        disability,
        living,
        family_planning_special,
        veteran_entitled,
    })
}

/// What a run serves: the baseline edition and, optionally, the county's
/// answer table.
pub struct Context<'a> {
    /// The baseline edition.
    pub catalogue: &'a Catalogue,
    /// Its per-cell table.
    pub baseline: BaselineTable,
    /// The county's table, proven against `catalogue`.
    pub served: Option<&'a Served>,
    /// The evaluation date.
    pub as_of: Date,
}

impl<'a> Context<'a> {
    /// A context for one edition and, optionally, one county table.
    pub fn new(catalogue: &'a Catalogue, served: Option<&'a Served>, as_of: Date) -> Context<'a> {
        Context {
            catalogue,
            baseline: BaselineTable::new(catalogue),
            served,
            as_of,
        }
    }

    /// The pair of a person: baseline line set and county answer id.
    #[inline]
    pub fn pair(&self, p: &Person) -> u64 {
        let set = u64::from(self.baseline.set_of(p));
        let answer = self.served.map_or(0, |s| u64::from(s.table().id_of(p)));
        (set << 16) | answer
    }

    /// The full evaluation for a person: with the county's table, or the
    /// baseline alone when there is none.
    pub fn evaluate(&self, p: &Person) -> evaluate::Evaluation {
        let county = self.served.map_or(County::None, County::Table);
        evaluate::evaluate(self.catalogue, county, p, self.as_of)
    }
}

/// A hasher for the pair numbers: one multiplication (the keys are small
/// integers chosen by the host, not by the file, so no flooding concern).
#[derive(Default, Clone, Copy)]
pub struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The map of pairs.
pub type PairMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<PairHasher>>;

/// Rows counted per pair, with one person of each pair.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Rows read (the header not counted).
    pub rows: u64,
    /// Rows counted (valid persons).
    pub persons: u64,
    /// Per pair: (count, a person of the pair).
    pub pairs: PairMap<(u64, Person)>,
    /// Malformed rows, the first [`MAX_LISTED_ERRORS`].
    pub errors: Vec<RowError>,
    /// All malformed rows.
    pub error_count: u64,
}

impl Counts {
    fn error(&mut self, row: u64, field: String, message: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(RowError {
                row,
                field,
                message,
            });
        }
    }

    fn merge(&mut self, other: Counts) {
        self.rows += other.rows;
        self.persons += other.persons;
        for (k, (n, p)) in other.pairs {
            self.pairs.entry(k).or_insert((0, p)).0 += n;
        }
        self.error_count += other.error_count;
        for e in other.errors {
            if self.errors.len() < MAX_LISTED_ERRORS {
                self.errors.push(e);
            }
        }
    }
}

/// The format of a population file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// Guesses the format from the first byte that is not white space.
    pub fn sniff(bytes: &[u8]) -> Format {
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Ndjson,
            _ => Format::Csv,
        }
    }
}

/// Counts the rows of `body` (whole lines), the first of which is row
/// `first_row`, into `counts`; returns the line breaks passed (how far the
/// row numbers moved).
fn count_rows(
    ctx: &Context<'_>,
    format: Format,
    columns: Option<&Columns>,
    body: &[u8],
    first_row: u64,
    counts: &mut Counts,
) -> u64 {
    // Text checked as a whole (the common case), then split at line
    // breaks (CSV in one pass with its commas, NDJSON with the fast
    // search); a chunk that is not all UTF-8 is taken line by line, so the
    // faulty rows are named.
    if let Ok(text) = std::str::from_utf8(body) {
        if let (Format::Csv, Some(columns)) = (format, columns) {
            return count_csv_rows(ctx, columns, text, first_row, counts);
        }
        let mut lines = 0u64;
        for (current, line) in (first_row..).zip(text.split('\n')) {
            lines += 1;
            count_row(ctx, format, columns, line, current, counts);
        }
        return lines.saturating_sub(1);
    }
    let mut lines = 0u64;
    for (current, line) in (first_row..).zip(body.split(|b| *b == b'\n')) {
        lines += 1;
        match std::str::from_utf8(line) {
            Ok(text) => count_row(ctx, format, columns, text, current, counts),
            Err(_) => {
                counts.rows += 1;
                counts.error(current, "row".into(), "not UTF-8 text".into());
            }
        }
    }
    // `split` yields one piece more than there are line breaks.
    lines.saturating_sub(1)
}

/// Counts one row (a line without its line break).
#[inline]
fn count_row(
    ctx: &Context<'_>,
    format: Format,
    columns: Option<&Columns>,
    text: &str,
    current: u64,
    counts: &mut Counts,
) {
    let Some(text) = content(text) else {
        return;
    };
    counts.rows += 1;
    let parsed = match (format, columns) {
        (Format::Csv, Some(columns)) => csv_person(columns, text),
        _ => json_person(text).map(|(p, _)| p),
    };
    tally(ctx, parsed, current, counts);
}

/// A line without its `\r`, or `None` for a blank line (not a row).
#[inline]
fn content(line: &str) -> Option<&str> {
    let text = line.strip_suffix('\r').unwrap_or(line);
    (!trim(text).is_empty()).then_some(text)
}

/// Counts one parsed row: its pair, or its error.
#[inline]
fn tally(
    ctx: &Context<'_>,
    parsed: Result<Person, (String, String)>,
    current: u64,
    counts: &mut Counts,
) {
    match parsed {
        Ok(p) => {
            counts.persons += 1;
            counts.pairs.entry(ctx.pair(&p)).or_insert((0, p)).0 += 1;
        }
        Err((field, message)) => counts.error(current, field, message),
    }
}

/// [`count_rows`] for CSV text: each row's line break and commas are
/// found in one pass over its bytes ([`scan_row`]), where splitting at
/// line breaks first and at commas then took two. Rows, row numbers and
/// errors are those of [`count_row`] over `text.split('\n')`.
fn count_csv_rows(
    ctx: &Context<'_>,
    columns: &Columns,
    text: &str,
    first_row: u64,
    counts: &mut Counts,
) -> u64 {
    let bytes = text.as_bytes();
    let mut at = 0usize;
    let mut current = first_row;
    loop {
        let mut ends = [0usize; 32];
        let mut n = 0usize;
        let (len, quoted) = scan_row(bytes.get(at..).unwrap_or_default(), &mut ends, &mut n);
        // The row ends at a line break (ASCII) or the end: a character
        // boundary.
        let line = text.get(at..at + len).unwrap_or_default();
        if let Some(row) = content(line) {
            counts.rows += 1;
            let parsed = if quoted {
                csv_person_quoted(columns, row)
            } else {
                // The commas are before the line break and any `\r`.
                csv_person_at(columns, row, &mut ends, n)
            };
            tally(ctx, parsed, current, counts);
        }
        if at + len >= bytes.len() {
            return current - first_row;
        }
        at += len + 1;
        current += 1;
    }
}

/// The row at the start of `bytes`: its length up to its line break (or
/// the end), its commas' positions in `ends` (as many as fit; `n` counts
/// them all) and whether it has a quote before it — eight bytes at a
/// time.
#[inline]
fn scan_row(bytes: &[u8], ends: &mut [usize; 32], n: &mut usize) -> (usize, bool) {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const COMMAS: u64 = 0x2c2c_2c2c_2c2c_2c2c;
    const QUOTES: u64 = 0x2222_2222_2222_2222;
    const BREAKS: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    // 0x80 in exactly the bytes of `v` that are zero.
    let zeros = |v: u64| !((((v & LOW).wrapping_add(LOW)) | v) | LOW);
    let mut push = |at: usize, n: &mut usize| {
        if let Some(slot) = ends.get_mut(*n) {
            *slot = at;
        }
        *n += 1;
    };
    let mut quoted = false;
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in words.by_ref() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let v = u64::from_le_bytes(eight);
        let breaks = zeros(v ^ BREAKS);
        // The bits of the bytes before the first line break (every bit
        // when there is none): below the lowest 0x80 of `breaks`.
        let before = if breaks == 0 {
            u64::MAX
        } else {
            (breaks & breaks.wrapping_neg()) - 1
        };
        if zeros(v ^ QUOTES) & before != 0 {
            quoted = true;
        }
        let mut commas = zeros(v ^ COMMAS) & before;
        while commas != 0 {
            push(base + (commas.trailing_zeros() / 8) as usize, n);
            commas &= commas - 1;
        }
        if breaks != 0 {
            return (base + (breaks.trailing_zeros() / 8) as usize, quoted);
        }
        base += 8;
    }
    for (i, b) in words.remainder().iter().enumerate() {
        match *b {
            b'\n' => return (base + i, quoted),
            b',' => push(base + i, n),
            b'"' => quoted = true,
            _ => {}
        }
    }
    (bytes.len(), quoted)
}

/// Finds the commas of a CSV row (a line without its line break) eight
/// bytes at a time: their positions go to `ends` (as many as fit; `n`
/// counts them all). True when the row has a quote (then the caller
/// splits the row properly).
#[inline]
fn field_ends(bytes: &[u8], ends: &mut [usize; 32], n: &mut usize) -> bool {
    scan_row(bytes, ends, n).1
}

/// The person of one CSV row.
fn csv_person(columns: &Columns, text: &str) -> Result<Person, (String, String)> {
    // The fast path, one pass over the bytes: the field boundaries, in
    // place, no allocation; a quote anywhere sends the row to the full
    // RFC 4180 split below.
    let bytes = text.as_bytes();
    let mut ends = [0usize; 32];
    let mut n = 0usize;
    let quoted = field_ends(bytes, &mut ends, &mut n);
    if quoted {
        csv_person_quoted(columns, text)
    } else {
        csv_person_at(columns, text, &mut ends, n)
    }
}

/// The person of a CSV row without quotes whose `n` commas are at
/// `ends` (as many as fit).
#[inline]
fn csv_person_at(
    columns: &Columns,
    text: &str,
    ends: &mut [usize; 32],
    commas: usize,
) -> Result<Person, (String, String)> {
    let mut n = commas;
    if n < ends.len() {
        ends[n] = text.len();
    }
    n += 1;
    if n != columns.count {
        return Err((
            "row".into(),
            format!("{n} fields, the header has {}", columns.count),
        ));
    }
    if n > ends.len() {
        return csv_person_quoted(columns, text);
    }
    // Field `c` is text[start(c)..ends[c]]; the ends are at ASCII commas,
    // so every slice is on a character boundary.
    let field = |c: usize| {
        let start = if c == 0 { 0 } else { ends[c - 1] + 1 };
        text.get(start..*ends.get(c)?)
    };
    person_of(|i| columns.person[i].and_then(field))
}

/// The person of a CSV row split in full (RFC 4180 quotes).
fn csv_person_quoted(columns: &Columns, text: &str) -> Result<Person, (String, String)> {
    let fields = split_csv(text);
    if fields.len() != columns.count {
        return Err((
            "row".into(),
            format!("{} fields, the header has {}", fields.len(), columns.count),
        ));
    }
    person_of(|i| {
        columns.person[i]
            .and_then(|c| fields.get(c))
            .map(|f| f.as_ref())
    })
}

/// The person of one NDJSON row, with the row's other fields (its
/// identifier) joined by `/`.
fn json_person(text: &str) -> Result<(Person, String), (String, String)> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| ("row".to_string(), format!("not a JSON object: {e}")))?;
    let strings: Vec<Option<String>> = PERSON_FIELDS
        .iter()
        .map(|f| match map.get(*f) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Array(a)) => Some(
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            Some(serde_json::Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        })
        .collect();
    let person = person_of(|i| strings[i].as_deref())?;
    let id = map
        .iter()
        .filter(|(k, _)| !PERSON_FIELDS.contains(&k.as_str()))
        .map(|(_, v)| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/");
    Ok((person, id))
}

/// Reads a whole population file (CSV or NDJSON) and counts it on
/// `threads` threads (a [`Counter`] fed the whole file at once).
pub fn count(
    ctx: &Context<'_>,
    bytes: &[u8],
    threads: usize,
) -> Result<(Counts, Format), PopulationError> {
    let mut counter = Counter::new(ctx, threads);
    counter.feed(bytes)?;
    counter.finish()
}

/// Counts a population file read from `reader` in blocks of
/// [`COUNT_PIECE_BYTES`]: a thread of its own reads the next block while
/// the last one is counted, so the reading is hidden behind the counting.
/// `progress` is called after every block. The outer error is reading;
/// the inner, a file that cannot be counted at all.
pub fn count_reader(
    ctx: &Context<'_>,
    reader: &mut (dyn std::io::Read + Send),
    threads: usize,
    progress: &mut dyn FnMut(Progress),
) -> std::io::Result<Result<(Counts, Format), PopulationError>> {
    /// Blocks read ahead of the counting.
    const AHEAD: usize = 2;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(AHEAD);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            loop {
                let mut block = empty_rx
                    .try_recv()
                    .unwrap_or_else(|_| vec![0u8; COUNT_PIECE_BYTES]);
                block.resize(COUNT_PIECE_BYTES, 0);
                match read_full(reader, &mut block) {
                    Ok(0) => break,
                    Ok(n) => {
                        block.truncate(n);
                        if full_tx.send(Ok(block)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        break;
                    }
                }
            }
        });
        let mut counter = Counter::new(ctx, threads);
        for block in full_rx {
            let block = block?;
            if let Err(e) = counter.feed(&block) {
                return Ok(Err(e));
            }
            progress(counter.progress());
            let _ = empty_tx.send(block);
        }
        Ok(counter.finish())
    })
}

/// Reads until `buf` is full or the end of the file; the bytes read.
fn read_full(reader: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Bytes a [`Counter`] gathers before counting them (whole lines, cut
/// into one piece per thread): large enough that starting the threads is
/// nothing beside the counting, small enough that a run over a file of any
/// size holds little of it in memory.
pub const COUNT_PIECE_BYTES: usize = 8 << 20;

/// Below this many bytes a piece is counted on the calling thread alone.
const ONE_THREAD_BYTES: usize = 256 << 10;

/// The longest CSV header row accepted.
pub const MAX_HEADER_BYTES: usize = 64 << 10;

/// How far a run has come, for progress reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Bytes received so far.
    pub bytes: u64,
    /// Rows counted so far (the header not counted; rows still gathered
    /// in the current piece not yet).
    pub rows: u64,
    /// Malformed rows among them.
    pub malformed: u64,
}

/// Counts a population file fed in pieces as it arrives (a streamed
/// upload, a file read in blocks): memory stays at about
/// [`COUNT_PIECE_BYTES`] whatever the file's size, and the result is the
/// one [`count`] gives for the whole file at once (the same rows, numbers
/// and errors; tested).
pub struct Counter<'c, 'a> {
    ctx: &'c Context<'a>,
    threads: usize,
    /// The format and the CSV columns, once the start of the file is read.
    started: Option<(Format, Option<Columns>)>,
    /// Bytes received and not yet counted (an incomplete last line, or
    /// less than a piece).
    pending: Vec<u8>,
    /// The row number of the first line in `pending`.
    next_row: u64,
    total: Counts,
    bytes: u64,
}

impl<'c, 'a> Counter<'c, 'a> {
    /// A counter for `ctx`, counting on `threads` threads.
    pub fn new(ctx: &'c Context<'a>, threads: usize) -> Counter<'c, 'a> {
        Counter {
            ctx,
            threads: threads.max(1),
            started: None,
            pending: Vec::new(),
            next_row: 1,
            total: Counts::default(),
            bytes: 0,
        }
    }

    /// How far the run has come.
    pub fn progress(&self) -> Progress {
        Progress {
            bytes: self.bytes,
            rows: self.total.rows,
            malformed: self.total.error_count,
        }
    }

    /// Takes the next bytes of the file; counts whole lines once a piece
    /// is gathered. Fails only on a file that cannot be read at all (its
    /// header).
    pub fn feed(&mut self, data: &[u8]) -> Result<(), PopulationError> {
        self.bytes += data.len() as u64;
        let mut data = data;
        if self.started.is_none() {
            if self.pending.is_empty() {
                match self.start(data, false)? {
                    Some(used) => data = &data[used..],
                    None => {
                        self.pending.extend_from_slice(data);
                        return Ok(());
                    }
                }
            } else {
                let mut head = std::mem::take(&mut self.pending);
                head.extend_from_slice(data);
                if !data.contains(&b'\n') && head.len() < MAX_HEADER_BYTES {
                    // Still no line: nothing new to decide on (so a header
                    // sent a byte at a time is not scanned again each time).
                    self.pending = head;
                    return Ok(());
                }
                let used = self.start(&head, false)?;
                head.drain(..used.unwrap_or(0));
                self.pending = head;
                if used.is_none() {
                    return Ok(());
                }
                data = &[];
            }
        }
        if self.pending.is_empty() && data.len() >= COUNT_PIECE_BYTES {
            // A large block (a whole file): counted in place, not copied.
            let used = self.count_whole_lines(data);
            self.pending.extend_from_slice(&data[used..]);
            return Ok(());
        }
        self.pending.extend_from_slice(data);
        if self.pending.len() >= COUNT_PIECE_BYTES {
            let pending = std::mem::take(&mut self.pending);
            let used = self.count_whole_lines(&pending);
            self.pending = pending;
            self.pending.drain(..used);
        }
        Ok(())
    }

    /// Counts the whole lines of `data` (up to its last line break); the
    /// bytes counted.
    fn count_whole_lines(&mut self, data: &[u8]) -> usize {
        let last = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.count_lines(&data[..last]);
        last
    }

    /// Counts what is left and returns the counts (malformed rows in row
    /// order) and the file's format.
    pub fn finish(mut self) -> Result<(Counts, Format), PopulationError> {
        let mut pending = std::mem::take(&mut self.pending);
        if self.started.is_none() {
            let used = self.start(&pending, true)?.unwrap_or(pending.len());
            pending.drain(..used);
        }
        self.count_lines(&pending);
        let format = self.started.as_ref().map_or(Format::Csv, |s| s.0);
        let mut total = self.total;
        total.errors.sort_by_key(|e| e.row);
        total.errors.truncate(MAX_LISTED_ERRORS);
        Ok((total, format))
    }

    /// Reads the start of the file from `head`: its format (the first
    /// byte that is not white space) and, for CSV, the header row. Returns
    /// the bytes used (the header row and its line break), or `None` while
    /// more bytes are needed to tell.
    fn start(&mut self, head: &[u8], at_end: bool) -> Result<Option<usize>, PopulationError> {
        let decided = head.iter().any(|b| !b.is_ascii_whitespace())
            || at_end
            || head.len() >= MAX_HEADER_BYTES;
        if !decided {
            return Ok(None);
        }
        match Format::sniff(head) {
            Format::Ndjson => {
                self.started = Some((Format::Ndjson, None));
                self.next_row = 1;
                Ok(Some(0))
            }
            Format::Csv => {
                let end = match head.iter().position(|b| *b == b'\n') {
                    Some(end) => end,
                    None if at_end => head.len(),
                    None if head.len() > MAX_HEADER_BYTES => {
                        return Err(PopulationError::HeaderTooLong(MAX_HEADER_BYTES));
                    }
                    None => return Ok(None),
                };
                if head.is_empty() {
                    return Err(PopulationError::Empty);
                }
                if end > MAX_HEADER_BYTES {
                    return Err(PopulationError::HeaderTooLong(MAX_HEADER_BYTES));
                }
                let header = std::str::from_utf8(&head[..end])
                    .map_err(|_| PopulationError::NotText { row: 1 })?;
                let columns = Columns::from_header(header)?;
                self.started = Some((Format::Csv, Some(columns)));
                self.next_row = 2;
                Ok(Some((end + 1).min(head.len())))
            }
        }
    }

    /// Counts whole lines (the last may lack its line break only at the
    /// end of the file) on the counter's threads.
    fn count_lines(&mut self, body: &[u8]) {
        let Some((format, columns)) = &self.started else {
            return;
        };
        if body.is_empty() {
            return;
        }
        let threads = if body.len() < ONE_THREAD_BYTES {
            1
        } else {
            self.threads
        };
        // Cut at line breaks into one chunk per thread.
        let mut cuts = vec![0usize];
        for t in 1..threads {
            let mut at = body.len() * t / threads;
            while at < body.len() && body[at] != b'\n' {
                at += 1;
            }
            cuts.push((at + 1).min(body.len()));
        }
        cuts.push(body.len());
        let chunks: Vec<&[u8]> = cuts.windows(2).map(|w| &body[w[0]..w[1]]).collect();
        let ctx = self.ctx;
        let (format, columns) = (*format, columns.as_ref());
        if chunks.len() == 1 {
            let lines = count_rows(ctx, format, columns, body, self.next_row, &mut self.total);
            self.next_row += lines;
            return;
        }
        // Each thread numbers its rows from 0; the numbers are moved to
        // the file's once every chunk's line count is known.
        let results: Vec<(Counts, u64)> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|chunk| {
                    scope.spawn(move || {
                        let mut counts = Counts::default();
                        let lines = count_rows(ctx, format, columns, chunk, 0, &mut counts);
                        (counts, lines)
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for (mut counts, lines) in results {
            for e in &mut counts.errors {
                e.row += self.next_row;
            }
            self.next_row += lines;
            self.total.merge(counts);
        }
    }
}

/// One item's figures under one list.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Persons with a line for the item.
    pub beneficiaries: u64,
    /// Monthly cash, in fen (cash items).
    pub monthly_fen: u64,
    /// Services per year (quota items): Σ count × 12 / months.
    pub yearly_services: f64,
}

/// One item of the impact report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemImpact {
    /// Item key.
    pub item: String,
    /// Name.
    pub name: String,
    /// Benefit kind (`monthly-cash`, `quota`, …).
    pub kind: String,
    /// Under the baseline alone.
    pub baseline: Figures,
    /// Under the county's list (the guard applied).
    pub county: Figures,
    /// County minus baseline, beneficiaries.
    pub extra_beneficiaries: i64,
    /// County minus baseline, monthly fen.
    pub extra_monthly_fen: i64,
    /// County lines the guard refused (would have been below the baseline).
    pub clamped: u64,
}

/// The impact of a county's list over a population.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    /// Schema tag.
    pub schema: &'static str,
    /// The baseline edition.
    pub baseline: String,
    /// Its digest.
    pub baseline_digest: String,
    /// The county answer table, if any.
    pub table: Option<String>,
    /// The evaluation date.
    #[serde(serialize_with = "crate::population::date_text")]
    pub as_of: Date,
    /// Rows read.
    pub rows: u64,
    /// Persons counted.
    pub persons: u64,
    /// Distinct (baseline set, county answer) pairs.
    pub pairs: usize,
    /// Malformed rows (the first ones).
    pub errors: Vec<RowError>,
    /// All malformed rows.
    pub error_count: u64,
    /// Per item.
    pub items: Vec<ItemImpact>,
    /// Monthly cash under the baseline, fen.
    pub baseline_monthly_fen: u64,
    /// Monthly cash under the county list, fen.
    pub county_monthly_fen: u64,
}

/// Serialises a date as `YYYY-MM-DD`.
pub fn date_text<S: serde::Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_string())
}

fn add(figures: &mut Figures, benefit: &Benefit, n: u64) {
    figures.beneficiaries += n;
    match benefit {
        Benefit::MonthlyCash { fen } => figures.monthly_fen += fen * n,
        Benefit::Quota(q) if q.months > 0 => {
            figures.yearly_services += f64::from(q.count) * 12.0 / f64::from(q.months) * n as f64;
        }
        _ => {}
    }
}

/// Sums the counted pairs into the per-item impact.
///
/// The baseline side of a pair is its line set, read from the baseline
/// table (the same lines [`evaluate::evaluate`] gives without a county:
/// both come from [`Catalogue::lines_into`]'s tiers); the county side is the
/// guard's merge of that set with the pair's answer, evaluated once per
/// pair, on every core when there are many pairs. The sums are taken in
/// pair order whatever the number of threads, so a report is the same on
/// any machine.
pub fn impact(ctx: &Context<'_>, counts: &Counts) -> Impact {
    let mut items: Vec<ItemImpact> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut slot = |key: &str, name: &str, kind: &str, items: &mut Vec<ItemImpact>| -> usize {
        *index.entry(key.to_string()).or_insert_with(|| {
            items.push(ItemImpact {
                item: key.to_string(),
                name: name.to_string(),
                kind: kind.to_string(),
                baseline: Figures::default(),
                county: Figures::default(),
                extra_beneficiaries: 0,
                extra_monthly_fen: 0,
                clamped: 0,
            });
            items.len() - 1
        })
    };
    for item in &ctx.catalogue.items {
        let kind = item
            .tiers
            .first()
            .map_or("right", |t| t.benefit.kind().key());
        slot(&item.key, &item.name, kind, &mut items);
    }
    let mut pairs: Vec<(u64, u64, Person)> = counts
        .pairs
        .iter()
        .map(|(k, (n, p))| (*k, *n, *p))
        .collect();
    pairs.sort_unstable_by_key(|(k, _, _)| *k);
    let county = county_sides(ctx, &pairs);
    for ((pair, n, _), county) in pairs.iter().zip(county) {
        let set = (pair >> 16) as usize;
        for l in ctx.baseline.sets().get(set).map_or(&[][..], Vec::as_slice) {
            let Some(item) = ctx.catalogue.items.get(usize::from(l.item)) else {
                continue;
            };
            let i = slot(&item.key, &item.name, l.benefit.kind().key(), &mut items);
            add(&mut items[i].baseline, &l.benefit, *n);
        }
        for l in &county.lines {
            let i = slot(&l.item, &l.name, l.benefit.kind().key(), &mut items);
            add(&mut items[i].county, &l.benefit, *n);
            if l.status == Status::Clamped {
                items[i].clamped += n;
            }
        }
    }
    for it in &mut items {
        it.extra_beneficiaries = it.county.beneficiaries as i64 - it.baseline.beneficiaries as i64;
        it.extra_monthly_fen = it.county.monthly_fen as i64 - it.baseline.monthly_fen as i64;
    }
    Impact {
        schema: "qingdan.impact/1",
        baseline: ctx.catalogue.label(),
        baseline_digest: ctx.catalogue.digest.clone(),
        table: ctx.served.map(|s| s.table().digest().to_string()),
        as_of: ctx.as_of,
        rows: counts.rows,
        persons: counts.persons,
        pairs: counts.pairs.len(),
        errors: counts.errors.clone(),
        error_count: counts.error_count,
        baseline_monthly_fen: items.iter().map(|i| i.baseline.monthly_fen).sum(),
        county_monthly_fen: items.iter().map(|i| i.county.monthly_fen).sum(),
        items,
    }
}

/// Pairs at which [`county_sides`] starts a thread of its own.
const PAIRS_PER_THREAD: usize = 256;

/// The county evaluation of each pair (in the order given), on as many
/// threads as there are cores and pairs to share.
fn county_sides(ctx: &Context<'_>, pairs: &[(u64, u64, Person)]) -> Vec<evaluate::Evaluation> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(pairs.len() / PAIRS_PER_THREAD)
        .max(1);
    let evaluate_all = |part: &[(u64, u64, Person)]| -> Vec<evaluate::Evaluation> {
        part.iter().map(|(_, _, p)| ctx.evaluate(p)).collect()
    };
    if threads == 1 {
        return evaluate_all(pairs);
    }
    let per = pairs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .chunks(per)
            .map(|part| scope.spawn(move || evaluate_all(part)))
            .collect();
        let mut out = Vec::with_capacity(pairs.len());
        for handle in handles {
            match handle.join() {
                Ok(done) => out.extend(done),
                // A panic in an evaluation is a bug: it goes on here.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

impl std::fmt::Display for Impact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::model::yuan;
        writeln!(
            f,
            "{} persons ({} rows, {} malformed) against {}, as of {}",
            self.persons, self.rows, self.error_count, self.baseline, self.as_of
        )?;
        if let Some(t) = &self.table {
            writeln!(f, "county answer table {t}")?;
        }
        writeln!(
            f,
            "{:<28} {:>12} {:>16} {:>12} {:>16} {:>16}",
            "item", "baseline", "baseline 元/月", "county", "county 元/月", "difference 元/月"
        )?;
        for i in &self.items {
            if i.baseline.beneficiaries == 0 && i.county.beneficiaries == 0 {
                continue;
            }
            let label = format!("{} {}", i.name, i.item);
            writeln!(
                f,
                "{:<28} {:>12} {:>16} {:>12} {:>16} {:>16}",
                crate::text::escape(&label),
                i.baseline.beneficiaries,
                yuan(i.baseline.monthly_fen),
                i.county.beneficiaries,
                yuan(i.county.monthly_fen),
                signed_yuan(i.extra_monthly_fen),
            )?;
            if i.county.yearly_services > 0.0 || i.baseline.yearly_services > 0.0 {
                writeln!(
                    f,
                    "{:<28} {:>12.1} services/year {:>20.1} services/year",
                    "", i.baseline.yearly_services, i.county.yearly_services
                )?;
            }
            if i.clamped > 0 {
                writeln!(
                    f,
                    "{:<28} {} county lines refused by the guard",
                    "", i.clamped
                )?;
            }
        }
        writeln!(
            f,
            "monthly cash: baseline {} 元, county {} 元, difference {} 元",
            yuan(self.baseline_monthly_fen),
            yuan(self.county_monthly_fen),
            signed_yuan(self.county_monthly_fen as i64 - self.baseline_monthly_fen as i64)
        )?;
        for e in &self.errors {
            writeln!(
                f,
                "row {}: {}: {}",
                e.row,
                e.field,
                crate::text::escape(&e.message)
            )?;
        }
        if self.error_count > self.errors.len() as u64 {
            writeln!(
                f,
                "… and {} more malformed rows",
                self.error_count - self.errors.len() as u64
            )?;
        }
        Ok(())
    }
}

fn signed_yuan(fen: i64) -> String {
    if fen < 0 {
        format!("-{}", crate::model::yuan(fen.unsigned_abs()))
    } else {
        format!("+{}", crate::model::yuan(fen as u64))
    }
}

/// One entitlement of one person, for the name list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entitlement {
    /// Item key.
    pub item: String,
    /// Name.
    pub name: String,
    /// `baseline`, `raised`, `county-extra`, `clamped`.
    pub tag: Status,
    /// What.
    pub benefit: Benefit,
    /// Monthly fen for cash items.
    pub monthly_fen: Option<u64>,
    /// Why.
    pub reason: String,
}

/// Every entitlement of a person (cached per domain person by the caller).
pub fn entitlements(ctx: &Context<'_>, p: &Person) -> Vec<Entitlement> {
    ctx.evaluate(p)
        .lines
        .into_iter()
        .map(|l| Entitlement {
            monthly_fen: match l.benefit {
                Benefit::MonthlyCash { fen } => Some(fen),
                _ => None,
            },
            item: l.item.to_string(),
            name: l.name.to_string(),
            tag: l.status,
            benefit: l.benefit,
            reason: l.reason,
        })
        .collect()
}

/// Quotes a CSV field when it needs it.
fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The identifier column names, the (identifier, person) rows and the
/// counts of a population file.
pub type Identified = (Vec<String>, Vec<(String, Person)>, Counts);

/// The persons of a population file with their identifiers (the CSV
/// identifier columns, quoted and joined by commas; for NDJSON the other
/// fields joined by `/`): the names of the identifier columns, the rows,
/// and the counts (malformed rows listed).
pub fn identified(bytes: &[u8]) -> Result<Identified, PopulationError> {
    let format = Format::sniff(bytes);
    let mut counts = Counts::default();
    let mut rows: Vec<(String, Person)> = Vec::new();
    let (columns, body, first_row) = match format {
        Format::Csv => {
            if bytes.is_empty() {
                return Err(PopulationError::Empty);
            }
            let end = bytes
                .iter()
                .position(|b| *b == b'\n')
                .unwrap_or(bytes.len());
            let header = std::str::from_utf8(&bytes[..end])
                .map_err(|_| PopulationError::NotText { row: 1 })?;
            let columns = Columns::from_header(header)?;
            (Some(columns), &bytes[(end + 1).min(bytes.len())..], 2)
        }
        Format::Ndjson => (None, bytes, 1),
    };
    let id_names: Vec<String> = match &columns {
        Some(c) => c.ids.iter().map(|(_, n)| n.clone()).collect(),
        None => vec!["id".into()],
    };
    for (n, line) in body.split(|b| *b == b'\n').enumerate() {
        let row = n as u64 + first_row;
        let Ok(text) = std::str::from_utf8(line) else {
            counts.rows += 1;
            counts.error(row, "row".into(), "not UTF-8 text".into());
            continue;
        };
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            continue;
        }
        counts.rows += 1;
        let parsed = match &columns {
            Some(columns) => csv_person(columns, text).map(|p| {
                let fields = split_csv(text);
                let id: Vec<String> = columns
                    .ids
                    .iter()
                    .map(|(c, _)| quote(fields.get(*c).map_or("", |f| f.as_ref())))
                    .collect();
                (p, id.join(","))
            }),
            None => json_person(text).map(|(p, id)| (p, quote(&id))),
        };
        match parsed {
            Ok((p, id)) => {
                counts.persons += 1;
                rows.push((id, p));
            }
            Err((field, message)) => counts.error(row, field, message),
        }
    }
    Ok((id_names, rows, counts))
}

/// Writes the name list: one CSV row per (person, entitlement), with the
/// person's identifier columns, filtered to `items` when not empty.
/// Returns the rows written and the counts.
pub fn write_name_list(
    ctx: &Context<'_>,
    bytes: &[u8],
    items: &[String],
    out: &mut dyn std::io::Write,
) -> Result<(u64, Counts), NameListError> {
    let (id_names, rows, counts) = identified(bytes).map_err(NameListError::Population)?;
    let mut cache: HashMap<usize, Vec<Entitlement>> = HashMap::new();
    let mut written = 0u64;
    let header: Vec<String> = id_names.iter().map(|n| quote(n)).collect();
    writeln!(
        out,
        "{},item,item_name,tag,benefit,monthly_fen,reason",
        header.join(",")
    )
    .map_err(NameListError::Write)?;
    for (id, p) in &rows {
        let lines = cache
            .entry(p.index())
            .or_insert_with(|| entitlements(ctx, p));
        for e in lines.iter() {
            if !items.is_empty() && !items.contains(&e.item) {
                continue;
            }
            writeln!(
                out,
                "{id},{},{},{},{},{},{}",
                quote(&e.item),
                quote(&e.name),
                e.tag_key(),
                quote(&e.benefit.to_string()),
                e.monthly_fen.map_or(String::new(), |f| f.to_string()),
                quote(&e.reason)
            )
            .map_err(NameListError::Write)?;
            written += 1;
        }
    }
    Ok((written, counts))
}

/// One item of a reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ItemReconciliation {
    /// Item key.
    pub item: String,
    /// Persons entitled.
    pub entitled: u64,
    /// Persons who received something.
    pub receiving: u64,
    /// Entitled, received nothing (服务找人: the ones to find).
    pub entitled_not_receiving: u64,
    /// Received without being entitled.
    pub receiving_not_entitled: u64,
    /// Received less than the monthly entitlement (cash items).
    pub receiving_less: u64,
    /// Monthly fen owed to those receiving less.
    pub shortfall_fen: u64,
    /// Monthly fen paid without entitlement.
    pub unentitled_fen: u64,
}

/// One person's discrepancy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// The person's identifier.
    pub id: String,
    /// Item key.
    pub item: String,
    /// `entitled-not-receiving`, `receiving-not-entitled`, `receiving-less`.
    pub kind: &'static str,
    /// Monthly fen entitled (cash items).
    pub entitled_fen: Option<u64>,
    /// Amount (fen) or count received.
    pub received: u64,
}

/// The monthly check of receipts against entitlements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Schema tag.
    pub schema: &'static str,
    /// Persons in the population.
    pub persons: u64,
    /// Receipt rows read.
    pub receipts: u64,
    /// Receipts whose identifier is not in the population.
    pub unknown_persons: u64,
    /// Malformed receipt rows.
    pub receipt_errors: Vec<RowError>,
    /// Per item.
    pub items: Vec<ItemReconciliation>,
    /// The discrepancies (the first 10,000).
    pub cases: Vec<Case>,
    /// All discrepancies.
    pub case_count: u64,
}

/// Reconciles receipts (CSV: the population's identifier columns, `item`,
/// and `amount_fen` or `count`) against the entitlements of a population.
pub fn reconcile(
    ctx: &Context<'_>,
    population: &[u8],
    receipts: &[u8],
) -> Result<Reconciliation, PopulationError> {
    const MAX_CASES: usize = 10_000;
    let (id_names, rows, counts) = identified(population)?;
    // Receipts: header with the identifier columns, item, amount_fen/count.
    let end = receipts
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(receipts.len());
    let header =
        std::str::from_utf8(&receipts[..end]).map_err(|_| PopulationError::NotText { row: 1 })?;
    let names: Vec<String> = split_csv(header.trim_end_matches('\r'))
        .iter()
        .map(|n| n.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let id_cols: Vec<usize> = id_names
        .iter()
        .map(|n| names.iter().position(|m| m == n))
        .collect::<Option<Vec<_>>>()
        .ok_or(PopulationError::MissingColumn(
            "identifier (the population's identifier columns)",
        ))?;
    let item_col = names
        .iter()
        .position(|n| n == "item")
        .ok_or(PopulationError::MissingColumn("item"))?;
    let amount_col = names
        .iter()
        .position(|n| n == "amount_fen" || n == "count")
        .ok_or(PopulationError::MissingColumn("amount_fen"))?;
    let mut received: HashMap<String, HashMap<String, u64>> = HashMap::new();
    let mut receipt_rows = 0u64;
    let mut errors = Vec::new();
    for (n, line) in receipts[(end + 1).min(receipts.len())..]
        .split(|b| *b == b'\n')
        .enumerate()
    {
        let row = n as u64 + 2;
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            continue;
        }
        receipt_rows += 1;
        let fields = split_csv(text);
        let id: Vec<String> = id_cols
            .iter()
            .map(|c| quote(fields.get(*c).map_or("", |f| f.as_ref())))
            .collect();
        let item = fields
            .get(item_col)
            .map_or("", |f| f.as_ref())
            .trim()
            .to_string();
        match fields.get(amount_col).map(|f| f.trim().parse::<u64>()) {
            Some(Ok(amount)) => {
                *received
                    .entry(id.join(","))
                    .or_default()
                    .entry(item)
                    .or_default() += amount;
            }
            _ => {
                if errors.len() < MAX_LISTED_ERRORS {
                    errors.push(RowError {
                        row,
                        field: names[amount_col].clone(),
                        message: "not a whole number".into(),
                    });
                }
            }
        }
    }
    let mut items: Vec<ItemReconciliation> = Vec::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    let mut at = |key: &str, items: &mut Vec<ItemReconciliation>| -> usize {
        *slot.entry(key.to_string()).or_insert_with(|| {
            items.push(ItemReconciliation {
                item: key.to_string(),
                ..ItemReconciliation::default()
            });
            items.len() - 1
        })
    };
    for item in &ctx.catalogue.items {
        at(&item.key, &mut items);
    }
    let mut cases = Vec::new();
    let mut case_count = 0u64;
    let mut cache: HashMap<usize, Vec<Entitlement>> = HashMap::new();
    let mut known: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut push = |case: Case, cases: &mut Vec<Case>| {
        case_count += 1;
        if cases.len() < MAX_CASES {
            cases.push(case);
        }
    };
    for (id, p) in &rows {
        known.insert(id.as_str());
        let lines = cache
            .entry(p.index())
            .or_insert_with(|| entitlements(ctx, p));
        let got = received.get(id);
        for e in lines.iter() {
            let i = at(&e.item, &mut items);
            items[i].entitled += 1;
            let r = got.and_then(|g| g.get(&e.item)).copied();
            match (r, e.monthly_fen) {
                (None, _) => {
                    items[i].entitled_not_receiving += 1;
                    push(
                        Case {
                            id: id.clone(),
                            item: e.item.clone(),
                            kind: "entitled-not-receiving",
                            entitled_fen: e.monthly_fen,
                            received: 0,
                        },
                        &mut cases,
                    );
                }
                (Some(amount), Some(fen)) if amount < fen => {
                    items[i].receiving += 1;
                    items[i].receiving_less += 1;
                    items[i].shortfall_fen += fen - amount;
                    push(
                        Case {
                            id: id.clone(),
                            item: e.item.clone(),
                            kind: "receiving-less",
                            entitled_fen: Some(fen),
                            received: amount,
                        },
                        &mut cases,
                    );
                }
                (Some(_), _) => items[i].receiving += 1,
            }
        }
        if let Some(g) = got {
            let mut extra: Vec<(&String, &u64)> = g
                .iter()
                .filter(|(item, _)| !lines.iter().any(|e| &e.item == *item))
                .collect();
            extra.sort();
            for (item, amount) in extra {
                let i = at(item, &mut items);
                items[i].receiving += 1;
                items[i].receiving_not_entitled += 1;
                items[i].unentitled_fen += amount;
                push(
                    Case {
                        id: id.clone(),
                        item: item.clone(),
                        kind: "receiving-not-entitled",
                        entitled_fen: None,
                        received: *amount,
                    },
                    &mut cases,
                );
            }
        }
    }
    let unknown_persons = received
        .keys()
        .filter(|k| !known.contains(k.as_str()))
        .count() as u64;
    Ok(Reconciliation {
        schema: "qingdan.reconciliation/1",
        persons: counts.persons,
        receipts: receipt_rows,
        unknown_persons,
        receipt_errors: errors,
        items,
        cases,
        case_count,
    })
}

impl std::fmt::Display for Reconciliation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} persons, {} receipts ({} for persons not in the population)",
            self.persons, self.receipts, self.unknown_persons
        )?;
        writeln!(
            f,
            "{:<28} {:>9} {:>9} {:>14} {:>14} {:>9} {:>14}",
            "item", "entitled", "receiving", "not receiving", "not entitled", "less", "owed 元/月"
        )?;
        for i in &self.items {
            if i.entitled == 0 && i.receiving == 0 {
                continue;
            }
            writeln!(
                f,
                "{:<28} {:>9} {:>9} {:>14} {:>14} {:>9} {:>14}",
                crate::text::escape(&i.item),
                i.entitled,
                i.receiving,
                i.entitled_not_receiving,
                i.receiving_not_entitled,
                i.receiving_less,
                crate::model::yuan(i.shortfall_fen)
            )?;
        }
        writeln!(f, "{} discrepancies", self.case_count)
    }
}

impl Entitlement {
    /// The tag as written in files.
    pub fn tag_key(&self) -> &'static str {
        match self.tag {
            Status::Baseline => "baseline",
            Status::Raised => "raised",
            Status::CountyExtra => "county-extra",
            Status::Clamped => "clamped",
        }
    }
}

/// Why a name list could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NameListError {
    /// The population file.
    #[error(transparent)]
    Population(PopulationError),
    /// The output.
    #[error("writing the name list: {0}")]
    Write(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` bytes drawn from `alphabet` (xorshift, reproducible).
    fn random_bytes(seed: &mut u64, len: usize, alphabet: &[u8]) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                alphabet[(*seed % alphabet.len() as u64) as usize]
            })
            .collect()
    }

    /// The commas found eight bytes at a time are the commas there are,
    /// at every length and alignment, and any quote is noticed.
    #[test]
    fn field_ends_finds_every_comma_and_any_quote() {
        let alphabet = [b'a', b',', b'1', b' ', 0xe6, b'|'];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..80 {
            for _ in 0..50 {
                let row = random_bytes(&mut seed, len, &alphabet);
                let expected: Vec<usize> = (0..len).filter(|i| row[*i] == b',').collect();
                let (mut ends, mut n) = ([0usize; 32], 0);
                assert!(!field_ends(&row, &mut ends, &mut n));
                assert_eq!(n, expected.len());
                let kept = n.min(32);
                assert_eq!(&ends[..kept], &expected[..kept]);
                for at in 0..len {
                    let mut quoted = row.clone();
                    quoted[at] = b'"';
                    let (mut ends, mut n) = ([0usize; 32], 0);
                    assert!(
                        field_ends(&quoted, &mut ends, &mut n),
                        "quote at {at} of {len}"
                    );
                }
            }
        }
    }

    /// One pass finds a row's line break, the commas before it and any
    /// quote before it, at every length and alignment.
    #[test]
    fn scan_row_stops_at_the_first_line_break() {
        let alphabet = [b'a', b',', b'1', b'"', 0xe6, b'\n', b'\r', b'|'];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..90 {
            for _ in 0..60 {
                let bytes = random_bytes(&mut seed, len, &alphabet);
                let row_len = bytes.iter().position(|b| *b == b'\n').unwrap_or(len);
                let row = &bytes[..row_len];
                let commas: Vec<usize> = (0..row_len).filter(|i| row[*i] == b',').collect();
                let (mut ends, mut n) = ([0usize; 32], 0);
                let (found, quoted) = scan_row(&bytes, &mut ends, &mut n);
                assert_eq!(found, row_len, "{bytes:?}");
                assert_eq!(quoted, row.contains(&b'"'), "{bytes:?}");
                assert_eq!(n, commas.len(), "{bytes:?}");
                let kept = n.min(32);
                assert_eq!(&ends[..kept], &commas[..kept], "{bytes:?}");
            }
        }
    }

    /// CSV text counted in one pass per row gives exactly what counting
    /// each line of `text.split('\n')` gives: rows, persons, pairs, errors
    /// and their row numbers, and the line breaks passed.
    #[test]
    fn csv_rows_in_one_pass_count_as_line_by_line() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalogues");
        let library = crate::catalogue::Library::load_dir(&dir).expect("catalogues");
        let day: Date = "2024-06-01".parse().expect("date");
        let catalogue = library.in_force("330200", day).expect("宁波 in force");
        let ctx = Context::new(catalogue, None, day);
        let header = "id,age,hukou,ability,assistance,disability,living,family_planning_special,veteran_entitled";
        let columns = Columns::from_header(header).expect("columns");
        let rows = [
            "A,80,local,intact,none,none,alone,false,false",
            "B,92,local,severe,dibao,none,alone|empty-nest,true,0",
            "C,70,non-local,mild,none,grade1,,,\r",
            "\"D,1\",75,local,intact,none,none,,false,false",
            "E,59,local,intact,none,none,,false,false",
            "F,81,local,intact,none,none",
            "   ",
            "",
            "\r",
            "G,85,local,moderate,low-income,grade2, alone ; empty-nest ,yes,no",
            "H,x,local,intact,none,none,,false,false",
            "I,66,local,intact,none,none,nobody,false,false",
            "J,61,local,intact,none,none,,false,false,extra",
        ];
        for end in ["", "\n", "\r\n"] {
            let text = format!("{}{end}", rows.join("\n"));
            let mut one_pass = Counts::default();
            let lines = count_csv_rows(&ctx, &columns, &text, 7, &mut one_pass);
            let mut by_line = Counts::default();
            let mut expected = 0u64;
            for (current, line) in (7u64..).zip(text.split('\n')) {
                expected += 1;
                count_row(
                    &ctx,
                    Format::Csv,
                    Some(&columns),
                    line,
                    current,
                    &mut by_line,
                );
            }
            assert_eq!(lines, expected - 1);
            assert_eq!(one_pass.rows, by_line.rows);
            assert_eq!(one_pass.persons, by_line.persons);
            assert_eq!(one_pass.error_count, by_line.error_count);
            assert_eq!(
                format!("{:?}", one_pass.errors),
                format!("{:?}", by_line.errors)
            );
            let mut a: Vec<_> = one_pass.pairs.iter().map(|(k, v)| (*k, v.0)).collect();
            let mut b: Vec<_> = by_line.pairs.iter().map(|(k, v)| (*k, v.0)).collect();
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b);
            assert!(
                one_pass.persons >= 5 && one_pass.error_count >= 4,
                "{one_pass:?}"
            );
        }
    }
}
