//! Text that came from a component, made safe to show: control and
//! bidirectional-formatting characters escaped, length capped.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal or a page as it is: C0/C1 control
/// characters (other than none: newlines and tabs are escaped too, a
/// component's text is one line) and the bidirectional formatting
/// characters that can reorder what a reader sees.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every unsafe character written as `\u{…}`.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` cut to at most `max` bytes on a character boundary, with a marker
/// saying how much was left out.
pub fn cap(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} more bytes)", &s[..end], s.len() - end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi() {
        assert_eq!(escape("plain 文本"), "plain 文本");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\u{202E}y\n"), "x\\u{202e}y\\u{a}");
    }

    #[test]
    fn caps_on_a_char_boundary() {
        assert_eq!(cap("abc", 3), "abc");
        assert_eq!(cap("高龄津贴", 4), "高… (9 more bytes)");
    }
}
