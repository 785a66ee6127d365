//! Answers relayed as the upstream wrote them.
//!
//! A backend that speaks the OpenAI wire format itself (a remote OpenAI-compatible server) can
//! hand back the upstream's JSON text instead of a decoded value. The gateway then writes those
//! bytes to the client as they came, rewriting only the top-level `model`, which costs a splice
//! instead of decoding and re-encoding every field (and keeps every number, key order and
//! vendor field exactly as the upstream produced them). Whoever needs the typed value decodes
//! it with [`Answer::into_built`].

use crate::BackendError;
use crate::number_arrays;
use crate::relay_usage::UsageSlot;
use bytes::Bytes;
use serde::de::{DeserializeOwned, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::fmt;
use std::ops::Range;

/// What a backend answers: a value it built, or an upstream's JSON relayed as written.
#[derive(Debug, Clone)]
pub enum Answer<T> {
    /// A value the backend made (in-process models, test backends).
    Built(T),
    /// The upstream's JSON text, checked and probed but not decoded.
    Relayed(RelayedJson),
}

impl<T> From<T> for Answer<T> {
    fn from(value: T) -> Self {
        Self::Built(value)
    }
}

impl<T: DeserializeOwned> Answer<T> {
    /// The typed value, decoding relayed JSON (a [`BackendError::BadResponse`] if it does not
    /// have the type's shape).
    pub fn into_built(self) -> Result<T, BackendError> {
        match self {
            Self::Built(value) => Ok(value),
            Self::Relayed(json) => serde_json::from_slice(json.text()).map_err(|e| {
                BackendError::BadResponse(format!("upstream answer is not the expected JSON: {e}"))
            }),
        }
    }
}

/// Which OpenAI object a relayed text must be: decides the top-level keys it must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireKind {
    /// `chat.completion`: `model` and `choices`.
    ChatCompletion,
    /// `chat.completion.chunk`: `model` and `choices` (empty on a usage-only chunk).
    ChatChunk,
    /// An embeddings `list`: `model` and `data`.
    Embeddings,
}

/// The two token counts of a `usage` object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct TokenCounts {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
}

/// One JSON object from an upstream, syntax-checked, with its top-level `model` (and `usage`,
/// when that is an object) located.
#[derive(Debug, Clone)]
pub struct RelayedJson {
    text: Bytes,
    /// Byte range of the `model` value, quotes included.
    model: Range<usize>,
    /// The top-level `usage` object, where members can be added; `None` when `usage` is absent,
    /// `null` or not an object.
    usage: Option<UsageSlot>,
    /// Whether some choice carries a non-null `finish_reason`.
    finishes: bool,
}

/// The few top-level fields the gateway needs; everything else is skipped (but still parsed,
/// so malformed JSON is refused).
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    /// Borrowed, not decoded: only its place is wanted (`null` reads as `None`).
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
    #[serde(default)]
    choices: Option<FinishFlags>,
    #[serde(default)]
    data: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// `choices` read only for whether any of them has finished, without collecting them.
struct FinishFlags(bool);

#[derive(Deserialize)]
struct ChoiceProbe {
    #[serde(default)]
    finish_reason: Option<IgnoredAny>,
}

impl<'de> Deserialize<'de> for FinishFlags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Flags;
        impl<'de> Visitor<'de> for Flags {
            type Value = FinishFlags;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FinishFlags, A::Error> {
                let mut finishes = false;
                while let Some(choice) = seq.next_element::<ChoiceProbe>()? {
                    finishes |= choice.finish_reason.is_some();
                }
                Ok(FinishFlags(finishes))
            }
        }
        deserializer.deserialize_seq(Flags)
    }
}

impl RelayedJson {
    /// Checks that `text` is one JSON object of the given kind and locates its `model`.
    ///
    /// In an embeddings answer, arrays of plain numbers are checked by the fast lane of
    /// `number_arrays` (by character and neighbour, not number by number); everything else, and
    /// any array that lane does not take, by serde_json's full grammar.
    ///
    /// An object with an `error` key and without the kind's own keys is reported as
    /// [`RelayError::ErrorObject`] (servers send mid-stream failures that way).
    pub fn parse(text: Bytes, kind: WireKind) -> Result<Self, RelayError> {
        // Embedding vectors are checked by the fast lane and cut out of what serde reads.
        let skimmed = match kind {
            WireKind::Embeddings => number_arrays::skim_number_arrays(&text),
            WireKind::ChatCompletion | WireKind::ChatChunk => None,
        };
        let checked: &[u8] = skimmed.as_ref().map_or(&text, |s| &s.text);
        let probe: Probe<'_> = serde_json::from_slice(checked).map_err(|e| {
            // The message names a line and column: find them in the text as received.
            let e = match &skimmed {
                Some(_) => serde_json::from_slice::<Probe<'_>>(&text)
                    .err()
                    .unwrap_or(e),
                None => e,
            };
            RelayError::Malformed(format!("not a JSON object: {e}"))
        })?;
        let body_present = match kind {
            WireKind::ChatCompletion | WireKind::ChatChunk => probe.choices.is_some(),
            WireKind::Embeddings => probe.data.is_some(),
        };
        if !body_present {
            return Err(if probe.error.is_some() {
                RelayError::ErrorObject(text)
            } else {
                let key = match kind {
                    WireKind::Embeddings => "data",
                    _ => "choices",
                };
                RelayError::Malformed(format!("missing `{key}`"))
            });
        }
        let model = probe
            .model
            .map(RawValue::get)
            .filter(|raw| raw.starts_with('"'))
            .ok_or_else(|| RelayError::Malformed("missing a string `model`".to_owned()))?;
        // `model` borrows from `checked`, so its address lies inside it; checked all the same.
        let start = (model.as_ptr() as usize).wrapping_sub(checked.as_ptr() as usize);
        let start = skimmed
            .as_ref()
            .map_or(start, |s| s.original_position(start));
        let range = start..start.saturating_add(model.len());
        if text.get(range.clone()) != Some(model.as_bytes()) {
            return Err(RelayError::Malformed("cannot locate `model`".to_owned()));
        }
        let model = range;
        let usage = match probe.usage {
            Some(usage) => UsageSlot::locate(usage, checked, skimmed.as_ref(), &text)?,
            None => None,
        };
        let finishes = probe.choices.is_some_and(|flags| flags.0);
        Ok(Self {
            text,
            model,
            usage,
            finishes,
        })
    }

    /// The JSON text as received.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// Whether some choice carries a `finish_reason` (a chunk that ends its choice).
    pub fn finishes(&self) -> bool {
        self.finishes
    }

    /// The text with the top-level `model` set to `model`; the same bytes, not a copy, when it
    /// already says so.
    pub fn with_model(&self, model: &str) -> Bytes {
        let current = &self.text[self.model.clone()];
        // The usual case (the upstream names the model as we do) costs no allocation.
        let plain = !model.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
        if plain && current.get(1..current.len().saturating_sub(1)) == Some(model.as_bytes()) {
            return self.text.clone();
        }
        let quoted = serde_json::to_string(model).unwrap_or_default();
        if current == quoted.as_bytes() {
            return self.text.clone();
        }
        let mut out = Vec::with_capacity(self.text.len() + quoted.len());
        out.extend_from_slice(&self.text[..self.model.start]);
        out.extend_from_slice(quoted.as_bytes());
        out.extend_from_slice(&self.text[self.model.end..]);
        Bytes::from(out)
    }

    /// The top-level `usage` object decoded (only it, not the answer): what per-key limits and
    /// usage records read. `None` when there is none or it lacks the token counts.
    pub fn usage(&self) -> Option<crate::Usage> {
        let object = self.usage.as_ref()?.object(&self.text)?;
        serde_json::from_slice(object).ok()
    }

    /// The token counts of the top-level `usage` object (`prompt_tokens`, `completion_tokens`;
    /// a missing one reads as 0), reading those two numbers and skipping every other member:
    /// what the gateway's metrics and access log read on every answer, without the map
    /// [`RelayedJson::usage`] builds. `None` when there is no `usage` object or it is not valid.
    pub fn token_counts(&self) -> Option<TokenCounts> {
        let object = self.usage.as_ref()?.object(&self.text)?;
        crate::relay_counts::token_counts(object)
    }

    /// Whether the answer has a top-level `usage` object (not absent, not `null`), which
    /// [`RelayedJson::with_model_and_usage_extra`] can extend. Tells apart its two `None`s.
    pub fn has_usage_object(&self) -> bool {
        self.usage.is_some()
    }

    /// The text with the top-level `model` set to `model` (written as [`RelayedJson::with_model`]
    /// writes it) and `"key":value_json` added as the last member of the top-level `usage`
    /// object, in one copy; every other byte is the upstream's. This is how the gateway adds
    /// `usage.media` without decoding the answer.
    ///
    /// `value_json` must be valid JSON (the caller's own serde output): it is copied in as it is.
    ///
    /// `None` in two cases, which [`RelayedJson::has_usage_object`] tells apart:
    /// - no `usage` object (absent, `null`, not an object; `has_usage_object` is false): relay
    ///   [`RelayedJson::with_model`] alone, since a backend that reports no usage gets none
    ///   invented;
    /// - `usage` already has a member named `key` (compared unescaped; `has_usage_object` is
    ///   true): a second one would be a duplicate key, so decode the answer instead.
    pub fn with_model_and_usage_extra(
        &self,
        model: &str,
        key: &str,
        value_json: &[u8],
    ) -> Option<Bytes> {
        let usage = self.usage.as_ref()?;
        let quoted = serde_json::to_string(model).ok()?;
        usage.splice(
            &self.text,
            self.model.clone(),
            quoted.as_bytes(),
            key,
            value_json,
        )
    }
}

/// Why an upstream's text cannot be relayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// Not JSON, or not the expected object.
    #[error("{0}")]
    Malformed(String),
    /// An `{"error": ...}` object in place of the answer (its whole text, for the message).
    #[error("the upstream sent an error object")]
    ErrorObject(Bytes),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChatChunk;

    fn chunk(text: &str) -> Result<RelayedJson, RelayError> {
        RelayedJson::parse(Bytes::copy_from_slice(text.as_bytes()), WireKind::ChatChunk)
    }

    #[test]
    fn model_is_spliced_and_everything_else_kept_byte_for_byte() {
        let text = r#"{"id":"c1","created":1,"model":"up/stream","x_vendor":{"a":[1.50,2e3]},"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#;
        let json = chunk(text).unwrap();
        assert!(!json.finishes());
        let same = json.with_model("up/stream");
        assert_eq!(same, text.as_bytes());
        let renamed = json.with_model("public \"name\"");
        assert_eq!(
            std::str::from_utf8(&renamed).unwrap(),
            text.replace(r#""up/stream""#, r#""public \"name\"""#)
        );
        let typed: ChatChunk = Answer::<ChatChunk>::Relayed(json).into_built().unwrap();
        assert_eq!(typed.model, "up/stream");
        assert_eq!(typed.choices[0].delta.content.as_deref(), Some("hi"));
    }

    #[test]
    fn embedding_vectors_take_the_fast_lane_and_the_model_is_still_found() {
        let text = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5, -1.25e-3,7]},{"object":"embedding","index":1,"embedding":[1,2]}],"model":"up","usage":{"prompt_tokens":1,"total_tokens":1}}"#;
        let parse = |text: String| RelayedJson::parse(Bytes::from(text), WireKind::Embeddings);
        let json = parse(text.to_owned()).unwrap();
        let renamed = json.with_model("pub");
        assert_eq!(
            std::str::from_utf8(&renamed).unwrap(),
            text.replace(r#""up""#, r#""pub""#)
        );
        let typed: crate::EmbeddingsResponse = Answer::Relayed(json).into_built().unwrap();
        assert_eq!(typed.data.len(), 2);
        // A fault after a cut vector is reported where it is in the text as received.
        let broken = text.replace(r#""usage""#, r#""usage"x"#);
        let column = broken.find(r#""usage"x"#).unwrap() + r#""usage"x"#.len();
        let Err(RelayError::Malformed(message)) = parse(broken) else {
            panic!("a broken answer was accepted");
        };
        assert!(message.ends_with(&format!("column {column}")), "{message}");
        // What the fast lane turns away, serde still refuses.
        for vector in [
            "[0.5,NaN]",
            "[0.5,]",
            "[0.5 0.25]",
            "[0.5,1e]",
            "[-Infinity]",
        ] {
            let broken = text.replace("[1,2]", vector);
            assert!(
                matches!(parse(broken), Err(RelayError::Malformed(_))),
                "{vector}"
            );
        }
    }

    #[test]
    fn a_finish_reason_on_any_choice_is_seen() {
        let text = r#"{"model":"m","choices":[{"index":0,"delta":{},"finish_reason":null},{"index":1,"delta":{},"finish_reason":"stop"}]}"#;
        assert!(chunk(text).unwrap().finishes());
        assert!(
            !chunk(r#"{"model":"m","choices":[],"usage":{}}"#)
                .unwrap()
                .finishes()
        );
    }

    #[test]
    fn malformed_or_foreign_objects_are_refused() {
        assert!(matches!(
            chunk("{\"model\":"),
            Err(RelayError::Malformed(_))
        ));
        assert!(matches!(chunk("[1,2]"), Err(RelayError::Malformed(_))));
        assert!(matches!(
            chunk(r#"{"model":7,"choices":[]}"#),
            Err(RelayError::Malformed(_))
        ));
        assert!(matches!(
            chunk(r#"{"choices":[]}"#),
            Err(RelayError::Malformed(_))
        ));
        let error = r#"{"error":{"message":"boom"}}"#;
        assert_eq!(
            chunk(error).unwrap_err(),
            RelayError::ErrorObject(Bytes::from_static(error.as_bytes()))
        );
        let embeddings = Bytes::from_static(br#"{"model":"m","choices":[]}"#);
        assert!(RelayedJson::parse(embeddings, WireKind::Embeddings).is_err());
    }

    #[test]
    fn token_counts_read_the_two_numbers_and_skip_the_rest() {
        let text = r#"{"model":"m","choices":[],"usage":{"prompt_tokens":12,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens":5,"total_tokens":17}}"#;
        let counts = chunk(text).unwrap().token_counts();
        assert_eq!(
            counts,
            Some(TokenCounts {
                prompt_tokens: 12,
                completion_tokens: 5
            })
        );
        // Embeddings report no completion tokens.
        let counts = chunk(r#"{"model":"m","choices":[],"usage":{"prompt_tokens":4}}"#)
            .unwrap()
            .token_counts();
        assert_eq!(
            counts.map(|c| (c.prompt_tokens, c.completion_tokens)),
            Some((4, 0))
        );
        for none in [
            r#"{"model":"m","choices":[]}"#,
            r#"{"model":"m","choices":[],"usage":null}"#,
            r#"{"model":"m","choices":[],"usage":{"prompt_tokens":-1}}"#,
        ] {
            assert_eq!(chunk(none).unwrap().token_counts(), None, "{none}");
        }
    }
}
