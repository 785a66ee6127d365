//! The top-level `usage` object of a relayed answer, located so that one member can be added to
//! it without decoding the answer.
//!
//! The gateway reports what a request's media cost as `usage.media`. For an answer relayed as the
//! upstream wrote it, that member is spliced in after the object's last member, in the same copy
//! that renames `model` (see `RelayedJson::with_model_and_usage_extra`). Locating the object
//! costs the relay's probe next to nothing: serde hands it over as a borrowed `RawValue`, and its
//! place in the text is a pointer difference. The names of its members are only read when a
//! member is about to be added, so answers without media never pay for them.

use crate::number_arrays::Skimmed;
use crate::relay::RelayError;
use bytes::Bytes;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::ops::Range;

/// Where the top-level `usage` object lies in the text as received.
#[derive(Debug, Clone)]
pub(crate) struct UsageSlot {
    /// Byte range of the object, braces included (its member names are read from there when a
    /// member is about to be added).
    object: Range<usize>,
    /// Where a new member goes: right after the last member (or the opening brace), before any
    /// whitespace a pretty-printer put ahead of the closing brace, so the layout stays tidy.
    insert_at: usize,
    /// Whether the object has no member, so the new one needs no comma before it.
    empty: bool,
}

impl UsageSlot {
    /// The object's bytes in `text`.
    pub(crate) fn object<'a>(&self, text: &'a [u8]) -> Option<&'a [u8]> {
        text.get(self.object.clone())
    }

    /// The slot of `usage`, the raw value the probe borrowed from `checked` (the text serde read:
    /// `text` itself, or `skimmed`'s copy of it). `None` when `usage` is not an object (a
    /// number, a string...): there is nothing to extend.
    pub(crate) fn locate(
        usage: &RawValue,
        checked: &[u8],
        skimmed: Option<&Skimmed>,
        text: &[u8],
    ) -> Result<Option<Self>, RelayError> {
        let raw = usage.get().as_bytes();
        // serde trims the whitespace around a raw value, so an object starts and ends with its
        // braces.
        if raw.first() != Some(&b'{') {
            return Ok(None);
        }
        let original = |at: usize| skimmed.map_or(at, |s| s.original_position(at));
        // `usage` borrows from `checked`, so its address lies inside it; checked all the same.
        let start = (raw.as_ptr() as usize).wrapping_sub(checked.as_ptr() as usize);
        let close = start.saturating_add(raw.len().saturating_sub(1));
        // Mapped one end at a time: an embeddings answer's `usage` could hold a cut vector, in
        // which case its length in `text` differs from `raw`'s.
        let object = original(start)..original(close).saturating_add(1);
        let members = object.start.saturating_add(1)..object.end.saturating_sub(1);
        let found = (
            text.get(object.start),
            text.get(members.end),
            text.get(members.clone()),
        );
        let (Some(b'{'), Some(b'}'), Some(inside)) = found else {
            return Err(RelayError::Malformed("cannot locate `usage`".to_owned()));
        };
        let last = inside
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        let insert_at = last.map_or(members.start, |i| members.start + i + 1);
        Ok(Some(Self {
            object,
            insert_at,
            empty: last.is_none(),
        }))
    }

    /// `text` with `quoted_model` (a JSON string) in place of the bytes at `model` and
    /// `"key":value_json` added as the last member of this object, in one copy; `None` when the
    /// object already has a member named `key` (adding another would make a duplicate key).
    pub(crate) fn splice(
        &self,
        text: &[u8],
        model: Range<usize>,
        quoted_model: &[u8],
        key: &str,
        value_json: &[u8],
    ) -> Option<Bytes> {
        if has_member(text.get(self.object.clone())?, key) {
            return None;
        }
        let quoted_key = serde_json::to_string(key).ok()?;
        let comma: &[u8] = if self.empty { b"" } else { b"," };
        let member = [comma, quoted_key.as_bytes(), b":", value_json];
        let at = self.insert_at;
        let len = text.len() - model.len()
            + quoted_model.len()
            + member.iter().map(|part| part.len()).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        // `model` and `usage` are two top-level values, so one lies wholly before the other.
        if model.end <= at {
            out.extend_from_slice(text.get(..model.start)?);
            out.extend_from_slice(quoted_model);
            out.extend_from_slice(text.get(model.end..at)?);
            member.iter().for_each(|part| out.extend_from_slice(part));
            out.extend_from_slice(text.get(at..)?);
        } else {
            out.extend_from_slice(text.get(..at)?);
            member.iter().for_each(|part| out.extend_from_slice(part));
            out.extend_from_slice(text.get(at..model.start)?);
            out.extend_from_slice(quoted_model);
            out.extend_from_slice(text.get(model.end..)?);
        }
        Some(Bytes::from(out))
    }
}

/// Whether the JSON object `object` has a member named `key`, compared after unescaping (so
/// `"medi\u0061"` is `media`). Text that does not read as an object counts as having it: the
/// caller then decodes the answer, which reports the fault, instead of splicing blind.
fn has_member(object: &[u8], key: &str) -> bool {
    let mut reader = serde_json::Deserializer::from_slice(object);
    MemberNamed(key).deserialize(&mut reader).unwrap_or(true)
}

/// Reads an object's member names (values skipped) for whether one of them is the given one.
struct MemberNamed<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for MemberNamed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MemberNamed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        // Read to the end: serde_json refuses a map its visitor leaves half read.
        while let Some(named) = map.next_key_seed(NameIs(self.0))? {
            map.next_value::<IgnoredAny>()?;
            found |= named;
        }
        Ok(found)
    }
}

/// A member name compared in place with the wanted one (no `String` made for it).
struct NameIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for NameIs<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<bool, E> {
        Ok(name == self.0)
    }
}

#[cfg(test)]
mod tests {
    use crate::{RelayedJson, WireKind};
    use bytes::Bytes;
    use serde_json::{Value, json};

    const MEDIA: &[u8] = br#"{"images":1,"image_pixels":4096}"#;

    fn parse(text: &str, kind: WireKind) -> RelayedJson {
        RelayedJson::parse(Bytes::copy_from_slice(text.as_bytes()), kind).unwrap()
    }

    /// Splices `usage.media` and the model `pub/lic` into `text` and checks the result: it reads
    /// as the input with those two changes, and its bytes are the input's except at `model`'s
    /// value and where the member went (after the last member of `usage`).
    fn check_splice(text: &str, kind: WireKind) {
        let json = parse(text, kind);
        assert!(json.has_usage_object(), "{text}");
        let out = json
            .with_model_and_usage_extra("pub/lic", "media", MEDIA)
            .unwrap_or_else(|| panic!("no splice for {text}"));
        let out = std::str::from_utf8(&out).unwrap();
        let mut expected: Value = serde_json::from_str(text).unwrap();
        expected["model"] = json!("pub/lic");
        expected["usage"]["media"] = serde_json::from_slice(MEDIA).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(out).unwrap(),
            expected,
            "{out}"
        );

        // Byte for byte: undo the two splices in `out` and the input comes back.
        let restored = out.replacen(r#""pub/lic""#, r#""up/stream""#, 1);
        let media = std::str::from_utf8(MEDIA).unwrap();
        let (before, after) = restored.split_once(&format!(r#""media":{media}"#)).unwrap();
        let empty = expected["usage"].as_object().unwrap().len() == 1;
        let before = if empty {
            before
        } else {
            before.strip_suffix(',').unwrap()
        };
        assert_eq!(format!("{before}{after}"), text);
        // The member closes `usage`: only whitespace between it and the brace.
        assert!(after.trim_start().starts_with('}'), "{out}");
    }

    #[test]
    fn usage_after_the_model_gets_the_member_and_the_new_model() {
        check_splice(
            r#"{"id":"c1","object":"chat.completion","created":1,"model":"up/stream","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6},"system_fingerprint":"fp"}"#,
            WireKind::ChatCompletion,
        );
    }

    #[test]
    fn usage_before_the_model_gets_the_member_and_the_new_model() {
        check_splice(
            r#"{"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6},"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"model":"up/stream"}"#,
            WireKind::ChatCompletion,
        );
    }

    #[test]
    fn an_empty_usage_gets_the_member_without_a_comma() {
        let text = r#"{"model":"up/stream","choices":[],"usage":{}}"#;
        check_splice(text, WireKind::ChatChunk);
        let out = parse(text, WireKind::ChatChunk)
            .with_model_and_usage_extra("pub/lic", "media", MEDIA)
            .unwrap();
        let media = std::str::from_utf8(MEDIA).unwrap();
        let expected = format!(r#"{{"model":"pub/lic","choices":[],"usage":{{"media":{media}}}}}"#);
        assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
        // An empty object written with room inside is empty all the same.
        check_splice(
            "{\"model\":\"up/stream\",\"choices\":[],\"usage\":{ \n\t}}",
            WireKind::ChatChunk,
        );
    }

    #[test]
    fn a_null_or_missing_or_scalar_usage_is_not_extended() {
        for text in [
            r#"{"model":"up/stream","choices":[]}"#,
            r#"{"model":"up/stream","choices":[],"usage":null}"#,
            r#"{"model":"up/stream","choices":[],"usage": null }"#,
            r#"{"model":"up/stream","choices":[],"usage":5}"#,
            r#"{"model":"up/stream","choices":[],"usage":[{"a":1}]}"#,
            r#"{"model":"up/stream","choices":[],"usage":"{}"}"#,
        ] {
            let json = parse(text, WireKind::ChatChunk);
            assert!(!json.has_usage_object(), "{text}");
            assert_eq!(
                json.with_model_and_usage_extra("pub/lic", "media", MEDIA),
                None,
                "{text}"
            );
        }
    }

    #[test]
    fn a_usage_that_already_names_the_key_is_left_to_decoding() {
        for text in [
            r#"{"model":"up/stream","choices":[],"usage":{"media":{"x":1}}}"#,
            r#"{"model":"up/stream","choices":[],"usage":{"total_tokens":1,"media":null}}"#,
            // The same name, escaped.
            r#"{"model":"up/stream","choices":[],"usage":{"total_tokens":1,"medi\u0061":2}}"#,
        ] {
            let json = parse(text, WireKind::ChatChunk);
            assert!(json.has_usage_object(), "{text}");
            assert_eq!(
                json.with_model_and_usage_extra("pub/lic", "media", MEDIA),
                None,
                "{text}"
            );
        }
        // A member whose value merely mentions the key does not count.
        check_splice(
            r#"{"model":"up/stream","choices":[],"usage":{"detail":{"media":1},"note":"media"}}"#,
            WireKind::ChatChunk,
        );
    }

    #[test]
    fn a_usage_only_chunk_with_no_choices_gets_the_member() {
        check_splice(
            r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"up/stream","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
            WireKind::ChatChunk,
        );
    }

    #[test]
    fn a_usage_nested_deeper_is_not_the_top_level_one() {
        // Only a nested `usage` (in a choice's message, in a vendor field): nothing to extend.
        let nested_only = r#"{"model":"up/stream","choices":[{"index":0,"message":{"role":"assistant","content":"\"usage\":{}","usage":{"a":1}}}],"x_vendor":{"usage":{"b":2}}}"#;
        let json = parse(nested_only, WireKind::ChatCompletion);
        assert!(!json.has_usage_object());
        assert_eq!(
            json.with_model_and_usage_extra("pub/lic", "media", MEDIA),
            None
        );
        // Nested ones before and after the top-level one: only that one gets the member.
        check_splice(
            r#"{"model":"up/stream","choices":[{"index":0,"message":{"role":"assistant","content":"\"usage\":{}","usage":{"a":1}}}],"usage":{"total_tokens":6},"x_vendor":{"usage":{"b":2}}}"#,
            WireKind::ChatCompletion,
        );
    }

    #[test]
    fn a_pretty_printed_usage_keeps_its_layout() {
        let text = "{\n  \"id\": \"c1\",\n  \"usage\": {\n    \"prompt_tokens\": 5,\n    \"total_tokens\": 6\n  },\n  \"model\": \"up/stream\",\n  \"choices\": []\n}\n";
        check_splice(text, WireKind::ChatCompletion);
        // The member follows the last one on its line; the brace keeps its own.
        let out = parse(text, WireKind::ChatCompletion)
            .with_model_and_usage_extra("pub/lic", "media", b"{}")
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            text.replace("6\n  }", "6,\"media\":{}\n  }")
                .replace("up/stream", "pub/lic")
        );
        check_splice(
            "{\r\n\t\"model\" : \"up/stream\" ,\r\n\t\"choices\" : [ ] ,\r\n\t\"usage\" : {\r\n\t\t\"total_tokens\" : 6\r\n\t}\r\n}",
            WireKind::ChatChunk,
        );
    }

    #[test]
    fn the_model_is_escaped_and_left_alone_when_it_already_matches() {
        let text = r#"{"model":"up/stream","choices":[],"usage":{"total_tokens":6}}"#;
        let json = parse(text, WireKind::ChatChunk);
        let out = json
            .with_model_and_usage_extra("up/stream", "media", b"1")
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"model":"up/stream","choices":[],"usage":{"total_tokens":6,"media":1}}"#
        );
        let out = json
            .with_model_and_usage_extra("a \"b\"\n", "k\"ey", b"[]")
            .unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["model"], "a \"b\"\n");
        assert_eq!(value["usage"]["k\"ey"], json!([]));
        // The model is written as `with_model` writes it.
        let renamed = json.with_model("a \"b\"\n");
        let renamed = std::str::from_utf8(&renamed).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            renamed.replace(r#"6}"#, r#"6,"k\"ey":[]}"#)
        );
    }

    #[test]
    fn an_embeddings_usage_is_found_behind_cut_vectors() {
        let text = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1.25e-3,7]}],"model":"up/stream","usage":{"prompt_tokens":1,"x_counts":[1,2,3],"total_tokens":1}}"#;
        check_splice(text, WireKind::Embeddings);
        let before = r#"{"object":"list","usage":{"x_counts":[4,5],"prompt_tokens":1},"data":[{"object":"embedding","index":0,"embedding":[0.5,-1.25e-3,7]}],"model":"up/stream"}"#;
        check_splice(before, WireKind::Embeddings);
    }
}
