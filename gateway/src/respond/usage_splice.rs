//! `usage.media` spliced into an upstream's JSON as it wrote it: the top-level `usage` object is
//! located by a borrowing parse (every other value skipped, nothing decoded into owned values),
//! and one member is inserted before its closing brace. The rest of the bytes, key order,
//! numbers and vendor fields included, pass through untouched.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// What a splice found.
#[derive(Debug, PartialEq, Eq)]
pub enum Spliced {
    /// The text with the member added.
    Done(Bytes),
    /// No `usage` object (absent or null): nothing is added, none is invented.
    NoUsage,
    /// It cannot be spliced (the text is not a JSON object, or `usage` already has the key):
    /// decode it instead.
    Decode,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
}

/// Adds `"key": value_json` as the last member of `text`'s top-level `usage` object.
/// `value_json` must be valid JSON (the caller's own serde output).
pub fn add_to_usage(text: &[u8], key: &str, value_json: &[u8]) -> Spliced {
    let Ok(probe) = serde_json::from_slice::<Probe<'_>>(text) else {
        return Spliced::Decode;
    };
    let Some(usage) = probe.usage else {
        return Spliced::NoUsage;
    };
    let raw = usage.get();
    if raw == "null" {
        return Spliced::NoUsage;
    }
    let Ok(members) = serde_json::from_str::<HashMap<&str, IgnoredAny>>(raw) else {
        // Not an object (or keys with escapes, which the borrowing map cannot hold).
        return Spliced::Decode;
    };
    if members.contains_key(key) {
        return Spliced::Decode;
    }
    // `raw` borrows from `text`: its position is a pointer difference.
    let start = raw.as_ptr() as usize - text.as_ptr() as usize;
    let Some(close) = raw.rfind('}') else {
        return Spliced::Decode;
    };
    let at = start + close;
    let mut out = BytesMut::with_capacity(text.len() + key.len() + value_json.len() + 4);
    out.extend_from_slice(&text[..at]);
    if !members.is_empty() {
        out.extend_from_slice(b",");
    }
    out.extend_from_slice(b"\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(value_json);
    out.extend_from_slice(&text[at..]);
    Spliced::Done(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const MEDIA: &[u8] = br#"{"images":1,"image_pixels":4096}"#;

    fn spliced(text: &str) -> Value {
        match add_to_usage(text.as_bytes(), "media", MEDIA) {
            Spliced::Done(bytes) => serde_json::from_slice(&bytes).unwrap(),
            other => panic!("{other:?} for {text}"),
        }
    }

    #[test]
    fn the_member_joins_usage_and_nothing_else_changes() {
        let text = r#"{"id":"c1","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi","usage":{"x":1}}}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6},"system_fingerprint":"fp"}"#;
        let mut expected: Value = serde_json::from_str(text).unwrap();
        expected["usage"]["media"] = json!({"images": 1, "image_pixels": 4096});
        assert_eq!(spliced(text), expected);
        let Spliced::Done(bytes) = add_to_usage(text.as_bytes(), "media", MEDIA) else {
            unreachable!()
        };
        let out = std::str::from_utf8(&bytes).unwrap();
        let cut = text.find(r#""total_tokens":6"#).unwrap() + r#""total_tokens":6"#.len();
        assert_eq!(
            &out[..cut],
            &text[..cut],
            "bytes before the splice are the upstream's"
        );
        assert!(out.ends_with(r#"},"system_fingerprint":"fp"}"#), "{out}");
    }

    #[test]
    fn pretty_printed_usage_before_the_choices_and_empty_usage() {
        let text = "{\n  \"usage\": {\n    \"prompt_tokens\": 5\n  },\n  \"model\": \"m\",\n  \"choices\": []\n}";
        assert_eq!(spliced(text)["usage"]["media"]["images"], 1);
        assert_eq!(spliced(text)["usage"]["prompt_tokens"], 5);
        let empty = r#"{"model":"m","choices":[],"usage":{}}"#;
        assert_eq!(
            spliced(empty)["usage"],
            json!({"media": {"images": 1, "image_pixels": 4096}})
        );
    }

    #[test]
    fn no_usage_invents_none_and_a_taken_key_is_decoded_instead() {
        for text in [
            r#"{"model":"m","choices":[]}"#,
            r#"{"model":"m","choices":[],"usage":null}"#,
        ] {
            assert_eq!(
                add_to_usage(text.as_bytes(), "media", MEDIA),
                Spliced::NoUsage
            );
        }
        let taken = r#"{"model":"m","usage":{"media":{"x":1}}}"#;
        assert_eq!(
            add_to_usage(taken.as_bytes(), "media", MEDIA),
            Spliced::Decode
        );
        assert_eq!(add_to_usage(b"[1,2]", "media", MEDIA), Spliced::Decode);
        let not_object = r#"{"usage":5}"#;
        assert_eq!(
            add_to_usage(not_object.as_bytes(), "media", MEDIA),
            Spliced::Decode
        );
    }
}
