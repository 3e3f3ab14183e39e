//! Text from outside (servers, stored records, log files) made safe to print and show.
//!
//! A server's string can hold terminal escape sequences (`ESC c` resets a terminal,
//! `ESC ] 52` writes the clipboard), bidi overrides that make text read backwards, or ten
//! thousand characters. Every such string goes through [`printable`] before it is printed,
//! logged or shown; tokens are checked with [`is_token`] when they arrive.

/// Longest server text kept in a message (descriptions, names); longer text is cut with "…".
pub const MAX_TEXT: usize = 300;

/// Characters that are never shown.
///
/// C0 and C1 controls, DEL, the bidi embeddings, overrides, isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), which can make
/// a message read differently from what it says, the line and paragraph separators (U+2028,
/// U+2029, shown as spaces), and the invisible ones (zero-width space and joiners, word
/// joiner, invisible operators, U+FEFF, U+180E, soft hyphen), which make two names that look
/// the same differ.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2060}'..='\u{2064}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{feff}'
                | '\u{00ad}'
        )
}

/// `text` without unsafe characters (line breaks and tabs become spaces, the rest is
/// dropped), trimmed, and cut to `max_chars` characters with an ellipsis.
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    let mut kept = 0usize;
    let mut cut = false;
    for c in text.trim().chars() {
        let c = match c {
            '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}' => ' ',
            c if is_unsafe(c) => continue,
            c => c,
        };
        if kept == max_chars {
            cut = true;
            break;
        }
        out.push(c);
        kept += 1;
    }
    if cut {
        // Room for the ellipsis within the limit.
        out.pop();
        out.push('…');
    }
    out
}

/// [`printable`] with the default limit, [`MAX_TEXT`].
pub fn text(text: &str) -> String {
    printable(text, MAX_TEXT)
}

/// Whether `text` is already safe to print as it is (nothing [`printable`] would drop).
pub fn is_printable(text: &str) -> bool {
    !text.chars().any(is_unsafe)
}

/// RFC 6749 Appendix A: tokens are visible ASCII and space (`%x20-7E`). Anything else in a
/// token is a server fault (or an attack on the terminal it would be printed to).
pub fn is_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_are_removed() {
        assert_eq!(printable("\u{1b}c123456", 20), "c123456");
        assert_eq!(
            printable("a\u{1b}]52;c;aGk=\u{7}b\u{9b}31m\u{7f}", 50),
            "a]52;c;aGk=b31m"
        );
        assert_eq!(printable("evil\u{202e}txt.exe\u{2066}", 50), "eviltxt.exe");
        assert_eq!(printable(" two\nlines\tand tab ", 50), "two lines and tab");
        assert_eq!(
            printable(
                "CAM\u{200b}-1\u{200f}\u{feff} next\u{2028}line\u{2029}end",
                50
            ),
            "CAM-1 next line end"
        );
        assert!(is_printable("Ünïcode is fine ✓"));
        assert!(!is_printable("a\u{1b}[31m"));
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_within_the_limit() {
        let long = "x".repeat(10_000);
        let cut = printable(&long, 300);
        assert_eq!(cut.chars().count(), 300);
        assert!(cut.ends_with('…'));
        assert_eq!(printable(&"y".repeat(300), 300), "y".repeat(300));
    }

    #[test]
    fn tokens_are_visible_ascii() {
        assert!(is_token("AT-abc.DEF_123~+/="));
        assert!(!is_token(""));
        assert!(!is_token("at-\u{1b}[31m"));
        assert!(!is_token("two\nlines"));
        assert!(!is_token("ünï"));
    }
}
