//! Safe text: everything a component wrote, made harmless before it reaches
//! a terminal, a log or a page (DESIGN §6).
//!
//! A county component is untrusted. Its strings can carry control characters
//! (an ANSI escape that clears the screen and prints a fake `PASS`), or
//! bidirectional-formatting characters (a right-to-left override that makes a
//! reviewer read a different text than the one stored). The runtime refuses
//! such characters in the strings a component declares about itself
//! ([`offending`]); the rest (guest error messages, the guest's log) goes
//! through [`escape`] on every output, and every message built from untrusted
//! input is bounded with [`cap`].
//!
//! ```
//! use qingdan::text::{cap, escape};
//!
//! assert_eq!(escape("\u{1b}[2Jfake PASS"), "\\u{1b}[2Jfake PASS");
//! assert_eq!(escape("慈溪市"), "慈溪市");
//! assert_eq!(cap("0123456789", 4), "0123… (6 more bytes cut)");
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

/// Bytes of untrusted text quoted in one error message: 4 KiB. Enough for any
/// honest message (wasmtime's longest explanations are a few hundred bytes),
/// while an error that quotes a 4 MB line of WebAssembly text stays short.
pub const MAX_QUOTED_BYTES: usize = 4096;

/// Why a character is unsafe to show as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsafe {
    /// A C0 or C1 control character, or DEL (terminal escapes, carriage
    /// returns that overwrite a line).
    Control,
    /// A bidirectional-formatting character: U+202A–U+202E (embeddings and
    /// overrides), U+2066–U+2069 (isolates), U+200E/U+200F (marks), U+061C
    /// (Arabic letter mark). They reorder how the text around them is shown.
    Bidi,
}

impl std::fmt::Display for Unsafe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unsafe::Control => "control character",
            Unsafe::Bidi => "bidirectional-formatting character",
        })
    }
}

/// Whether `c` would change how a terminal or a page shows the text around it.
pub fn classify(c: char) -> Option<Unsafe> {
    match c {
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => Some(Unsafe::Control),
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}' => {
            Some(Unsafe::Bidi)
        }
        _ => None,
    }
}

/// Whether `c` must not reach a terminal or a page as it is.
pub fn is_unsafe(c: char) -> bool {
    classify(c).is_some()
}

/// The first unsafe character of `s`: its byte offset, the character and why.
pub fn offending(s: &str) -> Option<(usize, char, Unsafe)> {
    s.char_indices()
        .find_map(|(at, c)| classify(c).map(|why| (at, c, why)))
}

/// Describes an offending character for an error message, e.g.
/// `U+001B (control character) at byte 3`.
pub fn describe_offence(at: usize, c: char, why: Unsafe) -> String {
    format!("U+{:04X} ({why}) at byte {at}", u32::from(c))
}

/// `s` with every control and bidirectional-formatting character replaced by
/// a Rust-style escape (`\u{1b}`); newlines and tabs are escaped too, so one
/// message stays one line. Borrowed when nothing needed escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_except(s, &[])
}

/// Like [`escape`], but keeps newlines and tabs: for multi-line text such as
/// a guest's log.
pub fn escape_keeping_lines(s: &str) -> Cow<'_, str> {
    escape_except(s, &['\n', '\t'])
}

fn escape_except<'s>(s: &'s str, keep: &[char]) -> Cow<'s, str> {
    let unsafe_char = |c: char| classify(c).is_some() && !keep.contains(&c);
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` cut to at most `max_bytes` (on a character boundary), followed by a
/// marker saying how many bytes were cut. Borrowed when it fits.
pub fn cap(s: &str, max_bytes: usize) -> Cow<'_, str> {
    if s.len() <= max_bytes {
        return Cow::Borrowed(s);
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} more bytes cut)", &s[..end], s.len() - end))
}

/// [`cap`] to [`MAX_QUOTED_BYTES`], then [`escape`]: the form in which the
/// runtime quotes untrusted text in its messages.
pub fn quote(s: &str) -> Cow<'_, str> {
    match cap(s, MAX_QUOTED_BYTES) {
        Cow::Borrowed(s) => escape(s),
        Cow::Owned(s) => Cow::Owned(escape(&s).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped_and_nothing_else() {
        assert!(matches!(escape("慈溪市 6000 fen"), Cow::Borrowed(_)));
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\ny\r\t"), "x\\u{a}y\\u{d}\\u{9}");
        assert_eq!(escape("\u{202e}evil\u{2066}"), "\\u{202e}evil\\u{2066}");
        assert_eq!(
            escape("\u{9b}\u{7f}\u{61c}\u{200f}"),
            "\\u{9b}\\u{7f}\\u{61c}\\u{200f}"
        );
        // The zero-width joiner and ordinary CJK punctuation are fine.
        assert_eq!(escape("〔2025〕\u{200d}"), "〔2025〕\u{200d}");
        // Escaping twice changes nothing more.
        assert_eq!(escape(&escape("a\u{1b}b")), "a\\u{1b}b");
        assert_eq!(
            escape_keeping_lines("one\ntwo\u{1b}\r"),
            "one\ntwo\\u{1b}\\u{d}"
        );
    }

    #[test]
    fn the_first_offence_is_named_with_its_code_point_and_byte() {
        let (at, c, why) = offending("ab\u{1b}[0m").unwrap();
        assert_eq!(
            describe_offence(at, c, why),
            "U+001B (control character) at byte 2"
        );
        let (at, c, why) = offending("慈\u{202e}").unwrap();
        assert_eq!(
            describe_offence(at, c, why),
            "U+202E (bidirectional-formatting character) at byte 3"
        );
        assert_eq!(offending("plain"), None);
        assert!(is_unsafe('\u{9b}') && is_unsafe('\u{2069}') && !is_unsafe('慈'));
    }

    #[test]
    fn cap_cuts_on_a_character_boundary_and_says_how_much() {
        assert_eq!(cap("慈溪市", 4), "慈… (6 more bytes cut)");
        assert_eq!(cap("abc", 3), "abc");
        let long = "x".repeat(4 << 20);
        let quoted = quote(&long);
        assert!(quoted.len() < MAX_QUOTED_BYTES + 64, "{}", quoted.len());
        assert!(quoted.ends_with("(4190208 more bytes cut)"), "{quoted:.40}");
    }
}

/// A text read once and shared by every value that shows it: a list item's
/// legal basis, 服务内容, 服务标准, 支出责任 and 责任单位 appear in every
/// evaluation line of the item, and copying them per line was most of an
/// evaluation's time (an allocation and a copy each, from memory a host
/// with thousands of lists rarely has in cache). Cloning one is a count.
/// Serialised as a plain string.
#[derive(Clone, PartialEq, Eq)]
pub struct Shared(std::sync::Arc<str>);

impl Shared {
    /// The text of an optional field, empty when absent (for display).
    pub fn or_empty(text: Option<&Shared>) -> String {
        text.map_or_else(String::new, ToString::to_string)
    }
}

impl std::ops::Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Shared {
    fn from(s: String) -> Shared {
        Shared(s.into())
    }
}

impl From<&str> for Shared {
    fn from(s: &str) -> Shared {
        Shared(s.into())
    }
}

impl PartialEq<&str> for Shared {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Shared {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Shared {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
