//! Bytes as lowercase hex and back: digests (the `ETag` of a part, an assembled SHA-256), signatures of
//! upload URLs, form tokens of the approval page.

/// `bytes` as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex back to bytes; `None` for anything but an even number of hex digits, at most 128 (the
/// longest tag or signature this server makes).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.bytes().all(|b| b.is_ascii_hexdigit());
    if !digits || !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_goes_both_ways_and_refuses_what_is_not_hex() {
        assert_eq!(encode(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(decode("00ab10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(decode("00AB10"), Some(vec![0, 0xab, 0x10]));
        for bad in ["0", "zz", "+1", &"a".repeat(130), "é0"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
