//! Answer tables (DESIGN §2.6): a county component's complete answer, for
//! every person of the domain, under one baseline edition.
//!
//! The person domain is finite (1,171,200 persons), so the proof does not
//! sample a component: it *materialises* it ([`crate::verify`]). The result
//! is an [`AnswerTable`]: for every person the component's [`Outcome`] — the
//! lines it answered, or the reason it refused — for one (component digest,
//! baseline edition digest). The table is what the proof checks against the
//! baseline, and it is what production serves: an evaluation looks the
//! person up here and merges the outcome with the native baseline under the
//! guard. No WebAssembly runs on the request path.
//!
//! # Representation (chosen by measurement)
//!
//! A county's rules look at few distinctions of each field (the ages where a
//! tier starts, local or not, …), so many values of a field are
//! interchangeable. For each field the values are grouped into *classes*:
//! two values are in one class when swapping them never changes any
//! person's outcome. The product of the classes of the eight fields is a
//! grid of *cells*; each cell stores one outcome id (`u16`), and a
//! dictionary holds each distinct outcome once. The grouping is exact (not a
//! heuristic): if `v` and `v'` of field `d` give the same outcome for every
//! choice of the other fields, replacing a person's value of `d` by the
//! class's first value never changes their outcome, and doing that field by
//! field maps every person to the representative person of their cell.
//!
//! Measured on the example plugins (`cargo bench -p qingdan --bench proof`,
//! figures in `BENCHMARKS.md`): 481–654 distinct outcomes and 1,920–8,640
//! cells; 38–76 KB per table, of which the cells are 4–17 KB and the
//! dictionary of outcomes most of the rest, against 2.3 MB for a plain
//! `u16` per person. A lookup is eight small array reads and a cell read,
//! 11 ns, a seventh of evaluating the baseline natively; a stored table
//! loads (digest and canonical form checked) in 0.2–0.4 ms.
//!
//! # Canonical encoding and digest
//!
//! The encoding ([`AnswerTable::encoded`]) is a pure function of the
//! person → outcome map (and the two digests and the description it is
//! about): classes are numbered by their first value, outcomes by the first
//! person (in domain order) who has them, lines within an outcome sorted by
//! item code. Two materialisations that agree on every person therefore give
//! byte-identical encodings, and the table's digest (sha256 of the encoding)
//! identifies its content. [`AnswerTable::decode`] checks the digest and
//! refuses any encoding that is not canonical, so a stored table can only be
//! the table that was built.
//!
//! Layout (all integers little-endian; `str` is a `u32` byte length then
//! UTF-8):
//!
//! ```text
//! magic "QDTABLE1"
//! plugin sha256 (32 bytes)   baseline edition sha256 (32 bytes)
//! description: county code, county name, baseline code (str ×3),
//!   u16 n, n × (u16 code, str key),
//!   u16 m, m × (u16 code, str key, str name, u8 category, str legal basis)
//! classes: for each field, one u8 class per value (99 bytes)
//! u32 outcomes, each: u8 tag (0 lines, 1 guest error, 2 malformed),
//!   lines: u16 count, count × (u16 code, benefit); refusals: str message
//! u32 cells, each a u16 outcome id
//! ```
//!
//! A benefit is a `u8` kind then its figures: monthly cash `u64 fen`; quota
//! `u32 count, u32 months`; one-off `u64 fixed, u8 percent, u64 cap`; voucher
//! `u8 percent, u64 monthly cap`; right nothing.

use crate::model::{
    Benefit, Category, DOMAIN_SIZE, FIELD_VALUES, ItemCode, Line, OneOff, Person, Quota, Voucher,
    in_domain_order,
};
use crate::runtime::{BaselineItem, Description, ExtraItem};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;

/// The first bytes of every encoded table (the format's version is its last byte).
pub const TABLE_MAGIC: &[u8; 8] = b"QDTABLE1";

/// Most distinct outcomes one table may hold. The example plugins give a few
/// hundred; a list whose answers differ for tens of thousands of kinds of
/// person is not a list a reviewer can review. Outcome ids fit a `u16`.
pub const MAX_OUTCOMES: usize = 1 << 16;

/// Most bytes the encoded dictionary of outcomes may take: 16 MiB. Bounds
/// the memory a component can make the host spend on its table (the example
/// plugins' dictionaries are under 30 KB).
pub const MAX_DICTIONARY_BYTES: usize = 16 << 20;

/// What a component answered for one person.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The component's lines (wire codes), sorted by item code.
    Lines(Vec<Line>),
    /// The component returned an error for this person.
    GuestError(String),
    /// The answer could not be read against the baseline (unknown code,
    /// duplicate item, broken benefit).
    Malformed(String),
}

impl Outcome {
    /// The lines, when the component answered.
    pub fn lines(&self) -> Option<&[Line]> {
        match self {
            Outcome::Lines(lines) => Some(lines),
            _ => None,
        }
    }

    /// Short kind of a refusal (`guest-error`, `malformed`), or `None` for lines.
    pub fn fault_kind(&self) -> Option<&'static str> {
        match self {
            Outcome::Lines(_) => None,
            Outcome::GuestError(_) => Some("guest-error"),
            Outcome::Malformed(_) => Some("malformed"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Lines(lines) => {
                if lines.is_empty() {
                    return f.write_str("no lines");
                }
                for (i, line) in lines.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "code {}: {}", line.item, line.benefit)?;
                }
                Ok(())
            }
            Outcome::GuestError(m) => write!(f, "guest error: {}", crate::text::escape(m)),
            Outcome::Malformed(m) => write!(f, "malformed answer: {}", crate::text::escape(m)),
        }
    }
}

/// Why a table cannot be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// More distinct outcomes than [`MAX_OUTCOMES`].
    #[error(
        "the component gives more than {limit} distinct answers over the person domain; a list has far fewer (the example plugins give a few hundred)"
    )]
    TooManyOutcomes {
        /// The limit.
        limit: usize,
    },
    /// The dictionary of outcomes is larger than [`MAX_DICTIONARY_BYTES`].
    #[error("the component's distinct answers take more than {limit} bytes")]
    DictionaryTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not every person has an outcome.
    #[error("person {index} of the domain has no outcome")]
    Incomplete {
        /// The first person without one.
        index: usize,
    },
    /// A digest is not `sha256:` and 64 hex digits.
    #[error("`{0}` is not a sha256 digest")]
    BadDigest(String),
    /// The stored bytes do not have the digest they were stored under.
    #[error("the table's content has digest {actual}, not {expected}: it was altered or damaged")]
    DigestMismatch {
        /// The digest asked for.
        expected: String,
        /// The digest of the bytes.
        actual: String,
    },
    /// The bytes are not a canonical table encoding.
    #[error("not an answer table: {0}")]
    Corrupt(String),
}

/// A component's complete answer under one baseline edition; immutable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerTable {
    digest: String,
    plugin: String,
    baseline: String,
    description: Description,
    /// Per field, the class of each value.
    class_of: [Vec<u8>; 8],
    /// Per field, the weight of its class in the cell number.
    stride: [usize; 8],
    /// Per field and value, its class times the field's stride, all fields
    /// side by side ([`FIELD_START`]): a lookup reads these few lines of
    /// the table itself rather than eight vectors of classes, which with
    /// thousands of tables in one host are each a miss of the processor's
    /// caches.
    weights: [u32; ALL_VALUES],
    cells: Vec<u16>,
    outcomes: Vec<Outcome>,
    /// The component's and the edition's sha256, as encoded.
    raw: [[u8; 32]; 2],
    /// Bytes of the canonical encoding. The encoding itself is not kept:
    /// a host serving thousands of tables would hold each twice, and it is
    /// only needed to store a table, so [`AnswerTable::encoded`] makes it
    /// again.
    size: usize,
}

impl AnswerTable {
    /// Builds the table from every person's outcome: `ids[i]` is the index
    /// in `outcomes` of person `i`'s outcome (domain order). `plugin` and
    /// `baseline` are `sha256:` digests of the component and the baseline
    /// edition; `description` is what the component said about itself.
    pub fn build(
        plugin: &str,
        baseline: &str,
        description: &Description,
        ids: &[u32],
        outcomes: &[Outcome],
    ) -> Result<AnswerTable, TableError> {
        if ids.len() != DOMAIN_SIZE {
            return Err(TableError::Incomplete { index: ids.len() });
        }
        // Canonical outcome ids: by first person, equal outcomes merged.
        let mut canonical: Vec<Outcome> = Vec::new();
        let mut by_value: HashMap<&Outcome, u16> = HashMap::new();
        let mut remap: Vec<Option<u16>> = vec![None; outcomes.len()];
        let mut person_ids = Vec::with_capacity(DOMAIN_SIZE);
        let mut dictionary_bytes = 0usize;
        for (index, id) in ids.iter().enumerate() {
            let slot = remap
                .get_mut(*id as usize)
                .ok_or(TableError::Incomplete { index })?;
            let new = match slot {
                Some(new) => *new,
                None => {
                    let outcome = &outcomes[*id as usize];
                    let new = match by_value.get(outcome) {
                        Some(new) => *new,
                        None => {
                            if canonical.len() >= MAX_OUTCOMES {
                                return Err(TableError::TooManyOutcomes {
                                    limit: MAX_OUTCOMES,
                                });
                            }
                            dictionary_bytes += encoded_len(outcome);
                            if dictionary_bytes > MAX_DICTIONARY_BYTES {
                                return Err(TableError::DictionaryTooLarge {
                                    limit: MAX_DICTIONARY_BYTES,
                                });
                            }
                            let new = canonical.len() as u16;
                            canonical.push(outcome.clone());
                            by_value.insert(outcome, new);
                            new
                        }
                    };
                    *slot = Some(new);
                    new
                }
            };
            person_ids.push(new);
        }
        for outcome in &mut canonical {
            if let Outcome::Lines(lines) = outcome {
                lines.sort_by_key(|l| l.item);
            }
        }
        let class_of = classes(&person_ids);
        let (stride, counts) = strides(&class_of);
        let cell_count: usize = counts.iter().product();
        // The first value of each class stands for it.
        let reps: [Vec<usize>; 8] = std::array::from_fn(|d| {
            let mut rep = vec![0usize; counts[d]];
            for (value, class) in class_of[d].iter().enumerate().rev() {
                rep[usize::from(*class)] = value;
            }
            rep
        });
        let mut cells = Vec::with_capacity(cell_count);
        let mut class = [0usize; 8];
        for _ in 0..cell_count {
            let digits: [usize; 8] = std::array::from_fn(|d| reps[d][class[d]]);
            cells.push(person_ids[index_of(&digits)]);
            // Odometer, last field fastest: the order of the cell numbers.
            for d in (0..8).rev() {
                class[d] += 1;
                if class[d] < counts[d] {
                    break;
                }
                class[d] = 0;
            }
        }
        let mut table = AnswerTable {
            digest: String::new(),
            plugin: plugin.to_string(),
            baseline: baseline.to_string(),
            description: description.clone(),
            weights: weights(&class_of, &stride),
            class_of,
            stride,
            cells,
            outcomes: canonical,
            raw: [raw_digest(plugin)?, raw_digest(baseline)?],
            size: 0,
        };
        let encoded = table.encode();
        table.size = encoded.len();
        table.digest = digest_of(&encoded);
        Ok(table)
    }

    /// Reads an encoded table. With `expected`, the bytes must have that
    /// digest. Refuses anything that is not exactly the canonical encoding of
    /// a complete table.
    pub fn decode(bytes: &[u8], expected: Option<&str>) -> Result<AnswerTable, TableError> {
        let actual = digest_of(bytes);
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(TableError::DigestMismatch {
                expected: expected.to_string(),
                actual,
            });
        }
        let mut r = Decoder { bytes, at: 0 };
        if r.take(8)? != TABLE_MAGIC {
            return Err(TableError::Corrupt(
                "the magic bytes are missing (not a table of this format)".into(),
            ));
        }
        let raw_plugin = r.digest()?;
        let raw_baseline = r.digest()?;
        let plugin = format!("sha256:{}", hex::encode(raw_plugin));
        let baseline = format!("sha256:{}", hex::encode(raw_baseline));
        let description = r.description()?;
        let mut class_of: [Vec<u8>; 8] = Default::default();
        for (d, values) in FIELD_VALUES.iter().enumerate() {
            class_of[d] = r.take(*values)?.to_vec();
        }
        let (stride, counts) = strides(&class_of);
        let outcome_count = r.u32()? as usize;
        if outcome_count > MAX_OUTCOMES {
            return Err(TableError::TooManyOutcomes {
                limit: MAX_OUTCOMES,
            });
        }
        let mut outcomes = Vec::with_capacity(outcome_count.min(bytes.len()));
        for _ in 0..outcome_count {
            outcomes.push(r.outcome()?);
        }
        let cell_count = r.u32()? as usize;
        if cell_count != counts.iter().product::<usize>() {
            return Err(TableError::Corrupt(format!(
                "{cell_count} cells for classes that make {}",
                counts.iter().product::<usize>()
            )));
        }
        let mut cells = Vec::with_capacity(cell_count.min(bytes.len()));
        for _ in 0..cell_count {
            let id = r.u16()?;
            if usize::from(id) >= outcomes.len() {
                return Err(TableError::Corrupt(format!(
                    "a cell names outcome {id} of {}",
                    outcomes.len()
                )));
            }
            cells.push(id);
        }
        if r.at != bytes.len() {
            return Err(TableError::Corrupt(format!(
                "{} bytes after the end of the table",
                bytes.len() - r.at
            )));
        }
        let table = AnswerTable {
            digest: actual,
            plugin,
            baseline,
            description,
            weights: weights(&class_of, &stride),
            class_of,
            stride,
            cells,
            outcomes,
            raw: [raw_plugin, raw_baseline],
            size: bytes.len(),
        };
        table.check_canonical()?;
        Ok(table)
    }

    /// Refuses a decoded table that is not what [`AnswerTable::build`] would
    /// make of its own content, in time proportional to the cells (a load
    /// must stay well under a millisecond): the canonical form is the only
    /// encoding in which
    ///
    /// 1. classes are numbered by their first value;
    /// 2. no two classes of a field are interchangeable (their columns of
    ///    cells differ), so the partition is the coarsest one, which is the
    ///    one `build` computes;
    /// 3. outcomes are distinct, each used by some cell, with lines in
    ///    strictly increasing code order, and numbered by the first person
    ///    (domain order) who has them.
    fn check_canonical(&self) -> Result<(), TableError> {
        let corrupt = |what: &str| Err(TableError::Corrupt(format!("not canonical: {what}")));
        let (_, counts) = strides(&self.class_of);
        for classes in &self.class_of {
            let mut next = 0u8;
            for c in classes {
                if *c > next {
                    return corrupt("classes are not numbered by their first value");
                }
                if *c == next {
                    next = next.saturating_add(1);
                }
            }
        }
        for d in 0..8 {
            let inner: usize = counts[d + 1..].iter().product();
            let outer: usize = counts[..d].iter().product();
            let column = |c: usize| {
                (0..outer).flat_map(move |o| {
                    let start = (o * counts[d] + c) * inner;
                    self.cells[start..start + inner].iter()
                })
            };
            for a in 0..counts[d] {
                for b in a + 1..counts[d] {
                    if column(a).eq(column(b)) {
                        return corrupt("two classes of a field are interchangeable");
                    }
                }
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(self.outcomes.len());
        for outcome in &self.outcomes {
            if !seen.insert(outcome) {
                return corrupt("an outcome is stored twice");
            }
            if let Outcome::Lines(lines) = outcome
                && lines.windows(2).any(|w| w[0].item >= w[1].item)
            {
                return corrupt("lines out of code order");
            }
        }
        // The smallest person of a cell is made of the first values of its
        // classes; outcomes must first appear in increasing id order.
        let reps: [Vec<usize>; 8] = std::array::from_fn(|d| {
            let mut rep = vec![usize::MAX; counts[d]];
            for (value, class) in self.class_of[d].iter().enumerate() {
                let slot = &mut rep[usize::from(*class)];
                *slot = (*slot).min(value);
            }
            rep
        });
        let mut first = vec![usize::MAX; self.outcomes.len()];
        let mut class = [0usize; 8];
        for id in &self.cells {
            let digits: [usize; 8] = std::array::from_fn(|d| reps[d][class[d]]);
            let slot = &mut first[usize::from(*id)];
            *slot = (*slot).min(index_of(&digits));
            for d in (0..8).rev() {
                class[d] += 1;
                if class[d] < counts[d] {
                    break;
                }
                class[d] = 0;
            }
        }
        if first.contains(&usize::MAX) {
            return corrupt("an outcome no person has");
        }
        if first.windows(2).any(|w| w[0] >= w[1]) {
            return corrupt("outcomes are not numbered by their first person");
        }
        Ok(())
    }

    /// `sha256:` digest of the encoding: the table's identity.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Digest of the component the table was materialised from.
    pub fn plugin_digest(&self) -> &str {
        &self.plugin
    }

    /// Digest of the baseline edition the component was run under.
    pub fn baseline_digest(&self) -> &str {
        &self.baseline
    }

    /// What the component said about itself (codes, extra items).
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// The canonical encoding, made again from the table (byte for byte
    /// what was built or decoded; it is not kept in memory).
    pub fn encoded(&self) -> Vec<u8> {
        self.encode()
    }

    /// Bytes of the canonical encoding.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The distinct outcomes, by id.
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// Number of cells of the grid.
    pub fn cells(&self) -> usize {
        self.cells.len()
    }

    /// Number of classes of each field.
    pub fn class_counts(&self) -> [usize; 8] {
        strides(&self.class_of).1
    }

    /// The outcome id of person `p`.
    #[inline]
    pub fn id_of(&self, p: &Person) -> u16 {
        self.id_of_digits(&p.digits())
    }

    /// The outcome id of the person at `index` in the domain order.
    pub fn id_at(&self, index: usize) -> u16 {
        Person::from_index(index)
            .map(|p| self.id_of(&p))
            .unwrap_or(0)
    }

    #[inline]
    fn id_of_digits(&self, digits: &[usize; 8]) -> u16 {
        let mut cell = 0;
        for (d, digit) in digits.iter().enumerate() {
            if *digit < FIELD_VALUES[d]
                && let Some(w) = self.weights.get(FIELD_START[d] + digit)
            {
                cell += *w as usize;
            }
        }
        self.cells.get(cell).copied().unwrap_or(0)
    }

    /// The outcome id of every person, in domain order: entry `i` is
    /// [`AnswerTable::id_at`] `i`, read through the same classes and cells
    /// as every lookup, for all persons at once.
    pub fn ids_in_order(&self) -> Vec<u16> {
        let class = |d: usize, v: usize| self.class_of[d].get(v).map_or(0, |c| usize::from(*c));
        in_domain_order(|d, v| class(d, v) * self.stride[d], &self.cells)
    }

    /// What the component answered for person `p`.
    #[inline]
    pub fn outcome(&self, p: &Person) -> &Outcome {
        // Every id was checked against the dictionary when the table was
        // built or read, and the dictionary is never empty.
        &self.outcomes[usize::from(self.id_of(p))]
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size.max(4096 + self.cells.len() * 2));
        out.extend_from_slice(TABLE_MAGIC);
        out.extend_from_slice(&self.raw[0]);
        out.extend_from_slice(&self.raw[1]);
        let d = &self.description;
        put_str(&mut out, &d.county_code);
        put_str(&mut out, &d.county_name);
        put_str(&mut out, &d.baseline);
        put_u16(&mut out, d.baseline_items.len());
        for item in &d.baseline_items {
            out.extend_from_slice(&item.code.to_le_bytes());
            put_str(&mut out, &item.key);
        }
        put_u16(&mut out, d.extra_items.len());
        for item in &d.extra_items {
            out.extend_from_slice(&item.code.to_le_bytes());
            put_str(&mut out, &item.key);
            put_str(&mut out, &item.name);
            out.push(item.category.ordinal() as u8);
            put_str(&mut out, &item.legal_basis);
        }
        for classes in &self.class_of {
            out.extend_from_slice(classes);
        }
        out.extend_from_slice(&(self.outcomes.len() as u32).to_le_bytes());
        for outcome in &self.outcomes {
            put_outcome(&mut out, outcome);
        }
        out.extend_from_slice(&(self.cells.len() as u32).to_le_bytes());
        for id in &self.cells {
            out.extend_from_slice(&id.to_le_bytes());
        }
        out
    }
}

/// Answer tables on disk, content-addressed: `<dir>/<hex>.table` holds the
/// table whose digest is `sha256:<hex>`, and `<dir>/by-subject/<plugin
/// hex>-<baseline hex>` names the table of one (component, edition). A
/// table is read back only through [`AnswerTable::decode`] with its digest,
/// so a damaged or altered file is never served: it is a miss.
#[derive(Clone, Debug)]
pub struct TableCache {
    dir: std::path::PathBuf,
}

impl TableCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<std::path::PathBuf>) -> TableCache {
        TableCache { dir: dir.into() }
    }

    /// The cache folder of the command line: `$QINGDAN_CACHE/tables`, else
    /// `$XDG_CACHE_HOME/qingdan/tables`, else `~/.cache/qingdan/tables`.
    pub fn default_dir() -> std::path::PathBuf {
        let base = std::env::var_os("QINGDAN_CACHE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| std::path::Path::new(&d).join("qingdan"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache/qingdan"))
            })
            .unwrap_or_else(|| std::path::PathBuf::from(".qingdan-cache"));
        base.join("tables")
    }

    fn subject_path(&self, plugin: &str, baseline: &str) -> Option<std::path::PathBuf> {
        let p = hex::encode(raw_digest(plugin).ok()?);
        let b = hex::encode(raw_digest(baseline).ok()?);
        Some(self.dir.join("by-subject").join(format!("{p}-{b}")))
    }

    fn table_path(&self, digest: &str) -> Option<std::path::PathBuf> {
        let hex = hex::encode(raw_digest(digest).ok()?);
        Some(self.dir.join(format!("{hex}.table")))
    }

    /// The table with digest `digest`, if stored and intact.
    pub fn get(&self, digest: &str) -> Option<AnswerTable> {
        let bytes = std::fs::read(self.table_path(digest)?).ok()?;
        AnswerTable::decode(&bytes, Some(digest)).ok()
    }

    /// The table of (component, edition), if stored and intact.
    pub fn get_for(&self, plugin: &str, baseline: &str) -> Option<AnswerTable> {
        let digest = std::fs::read_to_string(self.subject_path(plugin, baseline)?).ok()?;
        let table = self.get(digest.trim())?;
        (table.plugin_digest() == plugin && table.baseline_digest() == baseline).then_some(table)
    }

    /// Stores a table (each file written whole, then renamed into place).
    pub fn put(&self, table: &AnswerTable) -> std::io::Result<()> {
        let bad = || std::io::Error::other("the table has a malformed digest");
        let path = self.table_path(table.digest()).ok_or_else(bad)?;
        let subject = self
            .subject_path(table.plugin_digest(), table.baseline_digest())
            .ok_or_else(bad)?;
        write_whole(&path, &table.encoded())?;
        write_whole(&subject, table.digest().as_bytes())
    }
}

fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The 32 bytes a `sha256:<hex>` digest names, for keys compared often;
/// a string of any other form is identified by its own sha256 (so two
/// different strings never share an identity, short of a collision).
pub fn digest_identity(digest: &str) -> [u8; 32] {
    raw_digest(digest).unwrap_or_else(|_| Sha256::digest(digest.as_bytes()).into())
}

fn raw_digest(digest: &str) -> Result<[u8; 32], TableError> {
    let bad = || TableError::BadDigest(crate::text::cap(digest, 80).into_owned());
    let hex = digest.strip_prefix("sha256:").ok_or_else(bad)?;
    let bytes = hex::decode(hex).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// Where each field's values begin in [`AnswerTable`]'s weights.
const FIELD_START: [usize; 8] = {
    let mut start = [0; 8];
    let mut d = 1;
    while d < 8 {
        start[d] = start[d - 1] + FIELD_VALUES[d - 1];
        d += 1;
    }
    start
};

/// The values of all fields together.
const ALL_VALUES: usize = FIELD_START[7] + FIELD_VALUES[7];

/// Each field value's class times its field's stride, at
/// [`FIELD_START`] of its field (a cell number is below the domain's size,
/// so it fits).
fn weights(class_of: &[Vec<u8>; 8], stride: &[usize; 8]) -> [u32; ALL_VALUES] {
    let mut weights = [0; ALL_VALUES];
    for (d, classes) in class_of.iter().enumerate() {
        for (v, class) in classes.iter().take(FIELD_VALUES[d]).enumerate() {
            weights[FIELD_START[d] + v] =
                u32::try_from(usize::from(*class) * stride[d]).unwrap_or(u32::MAX);
        }
    }
    weights
}

/// Position in the domain order of the person with these field values.
fn index_of(digits: &[usize; 8]) -> usize {
    digits
        .iter()
        .zip(FIELD_VALUES.iter())
        .fold(0, |acc, (d, r)| acc * r + d)
}

/// Groups the values of each field into classes of interchangeable values,
/// numbered by their first value.
fn classes(ids: &[u16]) -> [Vec<u8>; 8] {
    std::array::from_fn(|d| {
        let values = FIELD_VALUES[d];
        // Persons with value v of field d: for every combination of the
        // fields before d, a block of `inner` consecutive persons.
        let inner: usize = FIELD_VALUES[d + 1..].iter().product();
        let outer: usize = FIELD_VALUES[..d].iter().product();
        // Values r and v are interchangeable when their columns are equal:
        // compared block by block as slices (a memory comparison each),
        // stopping at the first difference.
        let same = |r: usize, v: usize| {
            (0..outer).all(|o| {
                let a = (o * values + r) * inner;
                let b = (o * values + v) * inner;
                ids.get(a..a + inner) == ids.get(b..b + inner)
            })
        };
        let mut reps: Vec<usize> = Vec::new();
        let mut class_of = Vec::with_capacity(values);
        for v in 0..values {
            let found = reps.iter().position(|r| same(*r, v));
            let class = found.unwrap_or_else(|| {
                reps.push(v);
                reps.len() - 1
            });
            // At most 61 values per field, so classes fit a u8.
            class_of.push(class as u8);
        }
        class_of
    })
}

/// Strides of the cell number and the class count of each field.
fn strides(class_of: &[Vec<u8>; 8]) -> ([usize; 8], [usize; 8]) {
    let counts: [usize; 8] = std::array::from_fn(|d| {
        class_of[d]
            .iter()
            .map(|c| usize::from(*c) + 1)
            .max()
            .unwrap_or(1)
    });
    let mut stride = [1usize; 8];
    for d in (0..7).rev() {
        stride[d] = stride[d + 1] * counts[d + 1];
    }
    (stride, counts)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_u16(out: &mut Vec<u8>, n: usize) {
    // Counts of description items and of lines are capped far below 65536
    // by the runtime's output limits.
    out.extend_from_slice(&(n.min(usize::from(u16::MAX)) as u16).to_le_bytes());
}

fn put_outcome(out: &mut Vec<u8>, outcome: &Outcome) {
    match outcome {
        Outcome::Lines(lines) => {
            out.push(0);
            put_u16(out, lines.len());
            for line in lines {
                out.extend_from_slice(&line.item.to_le_bytes());
                put_benefit(out, &line.benefit);
            }
        }
        Outcome::GuestError(m) => {
            out.push(1);
            put_str(out, m);
        }
        Outcome::Malformed(m) => {
            out.push(2);
            put_str(out, m);
        }
    }
}

/// Bytes `outcome` takes in the encoded dictionary (what
/// [`MAX_DICTIONARY_BYTES`] counts).
pub fn encoded_len(outcome: &Outcome) -> usize {
    let mut out = Vec::new();
    put_outcome(&mut out, outcome);
    out.len()
}

fn put_benefit(out: &mut Vec<u8>, b: &Benefit) {
    match b {
        Benefit::MonthlyCash { fen } => {
            out.push(0);
            out.extend_from_slice(&fen.to_le_bytes());
        }
        Benefit::Quota(q) => {
            out.push(1);
            out.extend_from_slice(&q.count.to_le_bytes());
            out.extend_from_slice(&q.months.to_le_bytes());
        }
        Benefit::OneOff(o) => {
            out.push(2);
            out.extend_from_slice(&o.fixed.to_le_bytes());
            out.push(o.percent);
            out.extend_from_slice(&o.cap.to_le_bytes());
        }
        Benefit::Voucher(v) => {
            out.push(3);
            out.push(v.percent);
            out.extend_from_slice(&v.monthly_cap.to_le_bytes());
        }
        Benefit::Right => out.push(4),
    }
}

struct Decoder<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Decoder<'a> {
    fn digest(&mut self) -> Result<[u8; 32], TableError> {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.take(32)?);
        Ok(raw)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TableError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let Some(end) = end else {
            return Err(TableError::Corrupt(format!(
                "truncated: {n} bytes wanted at offset {}",
                self.at
            )));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TableError> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, TableError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, TableError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, TableError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, TableError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<String, TableError> {
        let n = self.u32()? as usize;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| TableError::Corrupt(format!("invalid UTF-8 at offset {}", self.at - n)))
    }

    fn code(&mut self) -> Result<ItemCode, TableError> {
        self.u16()
    }

    fn description(&mut self) -> Result<Description, TableError> {
        let county_code = self.str()?;
        let county_name = self.str()?;
        let baseline = self.str()?;
        let n = self.u16()?;
        let mut baseline_items = Vec::new();
        for _ in 0..n {
            let code = self.code()?;
            let key = self.str()?;
            baseline_items.push(BaselineItem { code, key });
        }
        let m = self.u16()?;
        let mut extra_items = Vec::new();
        for _ in 0..m {
            let code = self.code()?;
            let key = self.str()?;
            let name = self.str()?;
            let category = *Category::ALL
                .get(usize::from(self.u8()?))
                .ok_or_else(|| TableError::Corrupt("unknown item category".into()))?;
            let legal_basis = self.str()?;
            extra_items.push(ExtraItem {
                code,
                key,
                name,
                category,
                legal_basis,
            });
        }
        Ok(Description {
            county_code,
            county_name,
            baseline,
            baseline_items,
            extra_items,
        })
    }

    fn outcome(&mut self) -> Result<Outcome, TableError> {
        match self.u8()? {
            0 => {
                let n = self.u16()?;
                let mut lines = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    let item = self.code()?;
                    let benefit = self.benefit()?;
                    lines.push(Line { item, benefit });
                }
                Ok(Outcome::Lines(lines))
            }
            1 => Ok(Outcome::GuestError(self.str()?)),
            2 => Ok(Outcome::Malformed(self.str()?)),
            tag => Err(TableError::Corrupt(format!("unknown outcome tag {tag}"))),
        }
    }

    fn benefit(&mut self) -> Result<Benefit, TableError> {
        let benefit = match self.u8()? {
            0 => Benefit::MonthlyCash { fen: self.u64()? },
            1 => Benefit::Quota(Quota {
                count: self.u32()?,
                months: self.u32()?,
            }),
            2 => Benefit::OneOff(OneOff {
                fixed: self.u64()?,
                percent: self.u8()?,
                cap: self.u64()?,
            }),
            3 => Benefit::Voucher(Voucher {
                percent: self.u8()?,
                monthly_cap: self.u64()?,
            }),
            4 => Benefit::Right,
            kind => return Err(TableError::Corrupt(format!("unknown benefit kind {kind}"))),
        };
        benefit.check().map_err(TableError::Corrupt)?;
        Ok(benefit)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::model::Hukou;

    fn description() -> Description {
        Description {
            county_code: "330282".into(),
            county_name: "慈溪市".into(),
            baseline: "330200".into(),
            baseline_items: vec![BaselineItem {
                code: 1,
                key: "old-age-allowance".into(),
            }],
            extra_items: vec![ExtraItem {
                code: 100,
                key: "bathing".into(),
                name: "助浴".into(),
                category: Category::CareService,
                legal_basis: "测试".into(),
            }],
        }
    }

    const PLUGIN: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const BASE: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn cash(item: ItemCode, fen: u64) -> Line {
        Line {
            item,
            benefit: Benefit::MonthlyCash { fen },
        }
    }

    /// Outcomes by age tier and hukou: 60–79 nothing, 80–89 6000, 90+ 10000
    /// for local persons; non-local persons get a guest error from 100 on.
    fn rule(p: &Person) -> Outcome {
        match (p.hukou, p.age) {
            (Hukou::Local, 80..=89) => Outcome::Lines(vec![cash(1, 6000)]),
            (Hukou::Local, 90..) => Outcome::Lines(vec![cash(100, 1), cash(1, 10000)]),
            (Hukou::NonLocal, 100..) => Outcome::GuestError("no".into()),
            _ => Outcome::Lines(Vec::new()),
        }
    }

    fn materialise(f: impl Fn(&Person) -> Outcome) -> (Vec<u32>, Vec<Outcome>) {
        let mut outcomes: Vec<Outcome> = Vec::new();
        let ids = Person::domain()
            .map(|p| {
                let o = f(&p);
                match outcomes.iter().position(|x| *x == o) {
                    Some(i) => i as u32,
                    None => {
                        outcomes.push(o);
                        (outcomes.len() - 1) as u32
                    }
                }
            })
            .collect();
        (ids, outcomes)
    }

    #[test]
    fn lookup_gives_every_persons_outcome() {
        let (ids, outcomes) = materialise(rule);
        let table = AnswerTable::build(PLUGIN, BASE, &description(), &ids, &outcomes).unwrap();
        for p in Person::domain() {
            let mut want = rule(&p);
            if let Outcome::Lines(l) = &mut want {
                l.sort_by_key(|l| l.item);
            }
            assert_eq!(table.outcome(&p), &want, "{p:?}");
        }
        // Age splits at 80, 90 and 100; hukou in two; nothing else matters.
        assert_eq!(table.class_counts(), [4, 2, 1, 1, 1, 1, 1, 1]);
        assert_eq!(table.cells(), 8);
        assert!(table.size() < 1024, "{}", table.size());
    }

    #[test]
    fn ids_in_order_are_the_lookup_of_every_person() {
        // Classes in inner fields too: living, disability, veteran.
        let (ids, outcomes) = materialise(|p| {
            let fen = u64::from(p.age / 10) * 100
                + u64::from(p.living.bits() & 3) * 10
                + p.disability.ordinal() as u64 % 2
                + u64::from(p.veteran_entitled) * 1000;
            Outcome::Lines(vec![cash(1, fen)])
        });
        let table = AnswerTable::build(PLUGIN, BASE, &description(), &ids, &outcomes).unwrap();
        assert!(table.class_counts()[5] > 1 && table.class_counts()[7] > 1);
        let in_order = table.ids_in_order();
        assert_eq!(in_order.len(), DOMAIN_SIZE);
        // A table read back looks up through weights of its own.
        let read = AnswerTable::decode(&table.encoded(), None).unwrap();
        for (index, p) in Person::domain().enumerate() {
            assert_eq!(in_order[index], table.id_of(&p), "{p:?}");
            assert_eq!(read.id_of(&p), in_order[index], "{p:?}");
            assert_eq!(table.outcome(&p), &outcomes[ids[index] as usize], "{p:?}");
        }
    }

    #[test]
    fn encoding_is_canonical_whatever_the_numbering() {
        let (ids, outcomes) = materialise(rule);
        let a = AnswerTable::build(PLUGIN, BASE, &description(), &ids, &outcomes).unwrap();
        // The same map with outcomes numbered backwards, one duplicated and
        // lines in another order.
        let n = outcomes.len() as u32;
        let mut reversed: Vec<Outcome> = outcomes.iter().rev().cloned().collect();
        for o in &mut reversed {
            if let Outcome::Lines(l) = o {
                l.reverse();
            }
        }
        reversed.push(reversed[0].clone());
        let ids_b: Vec<u32> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                if *id == n - 1 && i % 2 == 0 {
                    n
                } else {
                    n - 1 - id
                }
            })
            .collect();
        let b = AnswerTable::build(PLUGIN, BASE, &description(), &ids_b, &reversed).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.encoded(), b.encoded());
    }

    #[test]
    fn decode_round_trips_and_checks_the_digest() {
        let (ids, outcomes) = materialise(rule);
        let table = AnswerTable::build(PLUGIN, BASE, &description(), &ids, &outcomes).unwrap();
        let back = AnswerTable::decode(&table.encoded(), Some(table.digest())).unwrap();
        assert_eq!(back, table);
        assert_eq!(back.plugin_digest(), PLUGIN);
        assert_eq!(back.baseline_digest(), BASE);
        assert_eq!(back.description(), &description());

        let err = AnswerTable::decode(&table.encoded(), Some(BASE)).unwrap_err();
        assert!(matches!(err, TableError::DigestMismatch { .. }), "{err}");
    }

    #[test]
    fn any_altered_byte_is_refused_even_without_a_digest() {
        let (ids, outcomes) = materialise(rule);
        let table = AnswerTable::build(PLUGIN, BASE, &description(), &ids, &outcomes).unwrap();
        let bytes = table.encoded();
        // Past the digests and the description: the classes, the
        // dictionary and the cells.
        let start = 8 + 64;
        for at in start..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[at] ^= 0x01;
            match AnswerTable::decode(&bad, None) {
                Err(_) => {}
                Ok(other) => {
                    // A flip inside a string or a figure can still be a
                    // valid table, but never the same one.
                    assert_ne!(other.digest(), table.digest(), "byte {at}");
                    assert_ne!(other, table, "byte {at}");
                }
            }
        }
        let mut truncated = bytes.to_vec();
        truncated.pop();
        assert!(AnswerTable::decode(&truncated, None).is_err());
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(AnswerTable::decode(&longer, None).is_err());
    }

    #[test]
    fn non_canonical_classes_are_refused() {
        let (ids, outcomes) = materialise(rule);
        let table = AnswerTable::build(PLUGIN, BASE, &description(), &ids, &outcomes).unwrap();
        // Ability (all one class) with value 5 split into a class of its own:
        // the cells no longer match the classes.
        let mut split = table.clone();
        split.class_of[2][5] = 1;
        assert!(AnswerTable::decode(&split.encode(), None).is_err());
        // Two interchangeable classes of age, with cells to match: a valid
        // grid, but not the coarsest one, so not canonical.
        let mut finer = table.clone();
        let (_, counts) = strides(&finer.class_of);
        let extra = counts[0] as u8;
        finer.class_of[0][60] = extra;
        let mut cells = Vec::new();
        let inner = finer.cells.len() / counts[0];
        for (c, chunk) in finer.cells.chunks(inner).enumerate() {
            cells.extend_from_slice(chunk);
            if c + 1 == counts[0] {
                cells.extend_from_slice(chunk);
            }
        }
        finer.cells = cells;
        let err = AnswerTable::decode(&finer.encode(), None).unwrap_err();
        assert!(err.to_string().contains("interchangeable"), "{err}");
    }

    #[test]
    fn a_person_per_outcome_is_capped() {
        let ids: Vec<u32> = (0..DOMAIN_SIZE as u32).collect();
        let outcomes: Vec<Outcome> = (0..DOMAIN_SIZE as u64)
            .map(|i| Outcome::Lines(vec![cash(1, i)]))
            .collect();
        let err = AnswerTable::build(PLUGIN, BASE, &description(), &ids, &outcomes).unwrap_err();
        assert_eq!(
            err,
            TableError::TooManyOutcomes {
                limit: MAX_OUTCOMES
            }
        );
    }

    #[test]
    fn incomplete_input_is_refused() {
        let err = AnswerTable::build(
            PLUGIN,
            BASE,
            &description(),
            &[0; 10],
            &[Outcome::Lines(vec![])],
        )
        .unwrap_err();
        assert!(matches!(err, TableError::Incomplete { .. }));
        let ids = vec![1u32; DOMAIN_SIZE];
        let err = AnswerTable::build(
            PLUGIN,
            BASE,
            &description(),
            &ids,
            &[Outcome::Lines(vec![])],
        )
        .unwrap_err();
        assert_eq!(err, TableError::Incomplete { index: 0 });
    }
}
