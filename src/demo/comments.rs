//! Comments from devices (spec §3.8): `{"text", "timestamp"?}` on an asset, the timestamp in
//! frames from 0, none for a comment on the whole asset.

use serde::Serialize;
use serde_json::{Number, Value};

/// Longest comment text accepted, in characters.
pub const TEXT_CHARS: usize = 4000;
/// Most comments kept per asset.
pub const PER_ASSET: usize = 200;
/// Most bytes of comment text kept across all assets.
pub const TOTAL_BYTES: usize = 8 * 1024 * 1024;

/// A comment as kept, listed by the control API and answered when made.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Comment {
    /// Comment id.
    pub id: String,
    /// The text, as sent.
    pub text: String,
    /// Frames from the start of the asset; `None` for the whole asset.
    pub timestamp: Option<Number>,
    /// When it was made (RFC 3339, UTC).
    pub inserted_at: String,
}

/// What a device sent: the text and the timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    /// The text.
    pub text: String,
    /// Frames from the start, if given.
    pub timestamp: Option<Number>,
}

/// Reads a comment request's JSON body, with a clear message for what is wrong.
pub fn read(body: &[u8]) -> Result<NewComment, String> {
    let shape = "send the comment as JSON {\"text\": \"...\", \"timestamp\": frames (optional)}";
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("{shape}: {e}"))?;
    let Value::Object(fields) = value else {
        return Err(shape.to_owned());
    };
    let text = match fields.get("text") {
        None | Some(Value::Null) => return Err("text is required".into()),
        Some(Value::String(text)) if text.trim().is_empty() => {
            return Err("text is empty: say something".into());
        }
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err("text must be a string".into()),
    };
    let chars = text.chars().count();
    if chars > TEXT_CHARS {
        return Err(format!(
            "text is {chars} characters; a comment is at most {TEXT_CHARS}"
        ));
    }
    let timestamp = match fields.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::Number(frames)) if frames.as_f64().is_some_and(|f| f >= 0.0) => {
            Some(frames.clone())
        }
        Some(Value::Number(_)) => {
            return Err("timestamp must be 0 or more: frames from the start of the asset".into());
        }
        Some(_) => {
            return Err(
                "timestamp must be a number of frames (leave it out for the whole asset)".into(),
            );
        }
    };
    Ok(NewComment { text, timestamp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_need_text_and_a_frame_count_if_any() {
        let ok = read(br#"{"text": "nice <b>take</b>", "timestamp": 48}"#).unwrap();
        assert_eq!(ok.text, "nice <b>take</b>");
        assert_eq!(ok.timestamp, Some(Number::from(48)));
        assert_eq!(
            read(br#"{"text": "t", "timestamp": null}"#)
                .unwrap()
                .timestamp,
            None
        );
        assert_eq!(
            read(br#"{"text": "t", "timestamp": 0}"#).unwrap().timestamp,
            Some(0.into())
        );
        for (body, says) in [
            (r#"{"timestamp": 1}"#, "required"),
            (r#"{"text": "  "}"#, "empty"),
            (r#"{"text": 5}"#, "a string"),
            (r#"{"text": "t", "timestamp": -1}"#, "0 or more"),
            (r#"{"text": "t", "timestamp": "12"}"#, "a number"),
            (r#"["text"]"#, "as JSON"),
            ("text=hi", "as JSON"),
        ] {
            let error = read(body.as_bytes()).unwrap_err();
            assert!(error.contains(says), "{body}: {error}");
        }
        let long = format!(r#"{{"text": "{}"}}"#, "é".repeat(TEXT_CHARS));
        assert!(read(long.as_bytes()).is_ok(), "4000 characters, not bytes");
        let longer = format!(r#"{{"text": "{}"}}"#, "x".repeat(TEXT_CHARS + 1));
        assert!(
            read(longer.as_bytes())
                .unwrap_err()
                .contains("at most 4000")
        );
    }
}
