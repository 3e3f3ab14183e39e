//! Removing secrets from free text (log lines, proxy settings) before it leaves the app.
//!
//! Our own logs never hold a secret (tests prove it); this is the second line
//! of defence, for text we do not control, such as error chains from other crates.

/// What a removed secret reads as.
pub const REDACTED: &str = "[redacted]";

/// Words that announce a secret value after them (`access_token=…`, `"client_secret": "…"`,
/// `Authorization: Bearer …`, `Proxy-Authorization: Basic …`).
const SECRET_KEYS: [&str; 8] = [
    "token",
    "secret",
    "password",
    "device_code",
    "authorization",
    "bearer",
    "basic",
    "assertion",
];

/// Shortest run of token-like characters treated as a secret on sight.
const OPAQUE_MIN: usize = 24;

/// `text` with every likely secret replaced by [`REDACTED`]: values after secret-naming keys,
/// passwords in URLs, and long opaque runs that look like tokens.
pub fn redact(text: &str) -> String {
    let text = redact_userinfo(text);
    let text = redact_after_keys(&text);
    redact_opaque(&text)
}

/// `scheme://user:password@host` → `scheme://[redacted]@host`.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"')
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// The value after a secret-naming key (`key=v`, `key: v`, `"key":"v"`, `Bearer v`).
fn redact_after_keys(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some((start, key)) = SECRET_KEYS
        .iter()
        .filter_map(|key| lower[search..].find(key).map(|i| (search + i, *key)))
        .min()
    {
        // The key may be part of a longer name (`refresh_token_expires`): skip to its end.
        let mut at = start + key.len();
        at += lower[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(lower.len() - at);
        let separators = text[at..]
            .find(|c: char| !matches!(c, ' ' | '=' | ':' | '"' | '\''))
            .unwrap_or(text.len() - at);
        let has_separator = separators > 0;
        let spaced_only = text[at..at + separators].chars().all(|c| c == ' ');
        let value_start = at + separators;
        let value_len = text[value_start..]
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '&' | '}' | ';' | '=')
            })
            .unwrap_or(text.len() - value_start);
        // "Bearer xyz" has a space; "token=xyz" an '='. A key with nothing after it stays.
        let value = &text[value_start..][..value_len];
        // After a bare space ("Bearer x", "authorization required") only what looks like a
        // credential goes: a lowercase word is prose.
        let prose = spaced_only && is_word(value);
        if has_separator && value_len > 0 && !prose && !is_harmless(value) {
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = value_start + value_len;
            search = copied;
        } else {
            // A harmless value may itself be a key ("Authorization: Bearer …").
            search = at;
        }
        if search >= text.len() {
            break;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Values after a secret word that are plainly not secrets: short words, `snake_case` names,
/// numbers, `null`.
fn is_harmless(value: &str) -> bool {
    let word = value.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
    word && (value.len() < 8 || value.contains('_'))
        || value.chars().all(|c| c.is_ascii_digit())
        || value == REDACTED
        || value.starts_with('[')
}

/// A plain lowercase word of prose (`required`, `failed`), never a credential.
fn is_word(value: &str) -> bool {
    value.len() < 16 && value.chars().all(|c| c.is_ascii_lowercase())
}

/// Long runs of token characters (letters, digits, `-_.~+/=`) holding both letters and
/// digits: JWTs, opaque tokens, device codes.
fn redact_opaque(text: &str) -> String {
    let is_token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '=');
    let mut out = String::with_capacity(text.len());
    let mut run_start: Option<usize> = None;
    let flush = |out: &mut String, run: &str| {
        let letters = run.chars().any(|c| c.is_ascii_alphabetic());
        let digits = run.chars().any(|c| c.is_ascii_digit());
        if run.len() >= OPAQUE_MIN && letters && digits {
            out.push_str(REDACTED);
        } else {
            out.push_str(run);
        }
    };
    for (i, c) in text.char_indices() {
        if is_token_char(c) {
            run_start.get_or_insert(i);
        } else {
            if let Some(start) = run_start.take() {
                flush(&mut out, &text[start..i]);
            }
            out.push(c);
        }
    }
    if let Some(start) = run_start {
        flush(&mut out, &text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_after_secret_keys_go() {
        assert_eq!(
            redact("grant_type=refresh_token&refresh_token=abc.def&client_id=CAM-1"),
            "grant_type=refresh_token&refresh_token=[redacted]&client_id=CAM-1"
        );
        assert_eq!(
            redact(r#"{"access_token":"s3cr3t","expires_in":28800}"#),
            r#"{"access_token":"[redacted]","expires_in":28800}"#
        );
        assert_eq!(
            redact("Authorization: Bearer eyJhbGciOi"),
            "Authorization: Bearer [redacted]"
        );
        assert_eq!(
            redact("client_secret = hunter2"),
            "client_secret = [redacted]"
        );
        assert_eq!(
            redact("Proxy-Authorization: Basic dXNlcjpwYXNz"),
            "Proxy-Authorization: Basic [redacted]"
        );
        assert_eq!(redact("Bearer hunter2x"), "Bearer [redacted]");
    }

    #[test]
    fn passwords_in_urls_and_long_tokens_go() {
        assert_eq!(
            redact("HTTPS_PROXY=http://user:pa55@proxy.local:3128/"),
            "HTTPS_PROXY=http://[redacted]@proxy.local:3128/"
        );
        assert_eq!(
            redact("saved Zx9vQ2mK7pL4rT8wY1nB5cD3fG6hJ0 for CAM-1"),
            "saved [redacted] for CAM-1"
        );
    }

    #[test]
    fn ordinary_text_stays() {
        for text in [
            "polling https://api.frame.io/v2/auth/token every 5 s",
            "token refresh failed: invalid_grant",
            "refresh token issued 3 days ago",
            "device CAM-0001 paired to project Demo Project at 2026-11-29T08:05:19Z",
            "access_token expires_in=28800",
            "proxy authorization required by proxy.local:3128; check proxy settings",
            "the password protected keychain is locked",
            "a basic check of the network",
        ] {
            assert_eq!(redact(text), text);
        }
    }
}
