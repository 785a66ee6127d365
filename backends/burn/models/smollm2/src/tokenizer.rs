//! The tokenizer, built from the GGUF metadata (`tokenizer.ggml.*`): GPT-2 style byte-level BPE
//! with SmolLM2's pre-tokenizer (each digit alone, then the GPT-2 split), its control tokens
//! as special tokens, and the ChatML chat template.

use tokenizers::Tokenizer;

use crate::SmolLmError;
use crate::gguf::{GgufFile, Value};

/// `tokenizer.ggml.token_type` of control tokens (`<|im_start|>`, ...).
const CONTROL: i64 = 3;
/// The system message SmolLM2's template inserts when a conversation has none.
pub const DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// One chat message, already flattened to text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user`, `assistant`, ...
    pub role: String,
    /// The text.
    pub content: String,
}

/// Text ↔ token ids, and the ids generation stops at.
#[derive(Debug, Clone)]
pub struct ChatTokenizer {
    inner: Tokenizer,
    im_start: u32,
    im_end: u32,
    /// Tokens that end a reply (`<|im_end|>`, `<|endoftext|>`).
    end_of_turn: Vec<u32>,
}

impl ChatTokenizer {
    /// Builds the tokenizer from the GGUF metadata.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, SmolLmError> {
        let model = file.str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(metadata(
                "tokenizer.ggml.model",
                &format!("{model:?}, expected \"gpt2\""),
            ));
        }
        let tokens = strings(
            file.array("tokenizer.ggml.tokens")?,
            "tokenizer.ggml.tokens",
        )?;
        let merges = strings(
            file.array("tokenizer.ggml.merges")?,
            "tokenizer.ggml.merges",
        )?;
        let types = file.array("tokenizer.ggml.token_type")?;
        if types.len() != tokens.len() {
            return Err(metadata(
                "tokenizer.ggml.token_type",
                "length differs from the tokens'",
            ));
        }
        let control: Vec<(u32, &str)> = tokens
            .iter()
            .zip(types)
            .enumerate()
            .filter(|(_, (_, kind))| matches!(kind, Value::Int(CONTROL) | Value::Uint(3)))
            .map(|(id, (token, _))| (id as u32, *token))
            .collect();
        let inner = build(&tokens, &merges, &control)?;
        let id = |name: &str| {
            inner
                .token_to_id(name)
                .ok_or_else(|| SmolLmError::Tokenizer(format!("no token {name}")))
        };
        let im_start = id("<|im_start|>")?;
        let im_end = id("<|im_end|>")?;
        let mut end_of_turn = vec![im_end];
        end_of_turn.extend(
            file.uint("tokenizer.ggml.eos_token_id")
                .ok()
                .map(|e| e as u32),
        );
        end_of_turn.extend(inner.token_to_id("<|endoftext|>"));
        end_of_turn.sort_unstable();
        end_of_turn.dedup();
        Ok(Self {
            inner,
            im_start,
            im_end,
            end_of_turn,
        })
    }

    /// Token ids of plain text; special-token spellings in it stay plain text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, SmolLmError> {
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| SmolLmError::Tokenizer(e.to_string()))
    }

    /// Text of `ids`, control tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, SmolLmError> {
        self.inner
            .decode(ids, true)
            .map_err(|e| SmolLmError::Tokenizer(e.to_string()))
    }

    /// Whether `id` ends the assistant's turn.
    pub fn ends_turn(&self, id: u32) -> bool {
        self.end_of_turn.contains(&id)
    }

    /// Vocabulary size, control tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The prompt for `messages` by SmolLM2's ChatML template (`<|im_start|>role\ncontent
    /// <|im_end|>\n` per message, the default system message first when there is none, then
    /// `<|im_start|>assistant\n`). Control tokens come only from the template: a message that
    /// spells `<|im_end|>` cannot end its turn early.
    pub fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>, SmolLmError> {
        let mut ids = Vec::new();
        let turn = |role: &str, content: &str, ids: &mut Vec<u32>| {
            ids.push(self.im_start);
            ids.extend(self.encode(&format!("{role}\n{content}"))?);
            ids.push(self.im_end);
            ids.extend(self.encode("\n")?);
            Ok::<_, SmolLmError>(())
        };
        if messages.first().is_none_or(|m| m.role != "system") {
            turn("system", DEFAULT_SYSTEM, &mut ids)?;
        }
        for message in messages {
            turn(&message.role, &message.content, &mut ids)?;
        }
        ids.push(self.im_start);
        ids.extend(self.encode("assistant\n")?);
        Ok(ids)
    }
}

/// The template rendered as text (what `tokenizer.chat_template` renders with
/// `add_generation_prompt`), for comparing with other runtimes.
pub fn render_chat(messages: &[Message]) -> String {
    let mut text = String::new();
    if messages.first().is_none_or(|m| m.role != "system") {
        text.push_str(&format!("<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n"));
    }
    for m in messages {
        text.push_str(&format!(
            "<|im_start|>{}\n{}<|im_end|>\n",
            m.role, m.content
        ));
    }
    text.push_str("<|im_start|>assistant\n");
    text
}

fn strings<'a>(values: &'a [Value], key: &str) -> Result<Vec<&'a str>, SmolLmError> {
    values
        .iter()
        .map(|v| match v {
            Value::Str(s) => Ok(s.as_str()),
            _ => Err(metadata(key, "holds a non-string")),
        })
        .collect()
}

fn metadata(key: &str, problem: &str) -> SmolLmError {
    SmolLmError::Metadata {
        key: key.to_owned(),
        problem: problem.to_owned(),
    }
}

/// The Hugging Face tokenizer SmolLM2 ships (`tokenizer.json`), assembled from the GGUF
/// vocabulary and merges: the same pipeline llama.cpp runs for its `smollm` pre-tokenizer.
fn build(
    tokens: &[&str],
    merges: &[&str],
    control: &[(u32, &str)],
) -> Result<Tokenizer, SmolLmError> {
    let mut vocab = serde_json::Map::new();
    for (id, token) in tokens.iter().enumerate() {
        vocab.entry(*token).or_insert(serde_json::json!(id));
    }
    let added: Vec<serde_json::Value> = control
        .iter()
        .map(|(id, content)| {
            serde_json::json!({
                "id": id, "content": content, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true,
            })
        })
        .collect();
    let spec = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        ]},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": merges,
        },
    });
    let mut tokenizer = spec
        .to_string()
        .parse::<Tokenizer>()
        .map_err(|e| SmolLmError::Tokenizer(e.to_string()))?;
    // Text is only ever text: control tokens are inserted by id, never parsed out of content.
    tokenizer.set_encode_special_tokens(true);
    Ok(tokenizer)
}

/// Turns generated ids into text pieces as they come, holding back bytes that do not yet
/// form whole UTF-8 characters (byte-level BPE splits multi-byte characters across tokens).
#[derive(Debug, Default)]
pub struct TextStream {
    ids: Vec<u32>,
    emitted: usize,
}

impl TextStream {
    /// Adds `id`; returns the text that became final, if any.
    pub fn push(&mut self, tokenizer: &ChatTokenizer, id: u32) -> Result<String, SmolLmError> {
        self.ids.push(id);
        let text = tokenizer.decode(&self.ids)?;
        if text.ends_with('\u{FFFD}') || text.len() < self.emitted {
            return Ok(String::new());
        }
        let piece = text.get(self.emitted..).unwrap_or_default().to_owned();
        self.emitted = text.len();
        Ok(piece)
    }

    /// All text so far, including an unfinished character's replacement.
    pub fn text(&self, tokenizer: &ChatTokenizer) -> Result<String, SmolLmError> {
        tokenizer.decode(&self.ids)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::gguf::tests::Builder;

    /// GPT-2's printable spelling of each byte (`bytes_to_unicode`).
    fn byte_alphabet() -> Vec<String> {
        let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
        let mut shifted = 256;
        (0..256u32)
            .map(|b| {
                let c = if printable(b) {
                    b
                } else {
                    shifted += 1;
                    shifted - 1
                };
                char::from_u32(c).unwrap().to_string()
            })
            .collect()
    }

    /// A small vocabulary in GGUF form: the control tokens, every byte, a few merges.
    fn tiny() -> ChatTokenizer {
        let alphabet = byte_alphabet();
        let mut tokens: Vec<&str> = vec!["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
        tokens.extend(alphabet.iter().map(String::as_str));
        tokens.extend(["hi", "Ġhi", "se", "us", "use", "user"]);
        let merges = ["h i", "Ġ hi", "u s", "us e", "use r", "s e"];
        let mut types = vec![3, 3, 3];
        types.extend(std::iter::repeat_n(1, tokens.len() - 3));
        let bytes = Builder::default()
            .string("tokenizer.ggml.model", "gpt2")
            .strings("tokenizer.ggml.tokens", &tokens)
            .strings("tokenizer.ggml.merges", &merges)
            .ints("tokenizer.ggml.token_type", &types)
            .uint("tokenizer.ggml.eos_token_id", 2)
            .build();
        ChatTokenizer::from_gguf(&GgufFile::parse(bytes).unwrap()).unwrap()
    }

    #[test]
    fn bpe_merges_digits_split_and_round_trips() {
        let t = tiny();
        let id = |s: &str| t.inner.token_to_id(s).unwrap();
        assert_eq!(t.encode("hi hi").unwrap(), vec![id("hi"), id("Ġhi")]);
        assert_eq!(t.encode("user").unwrap(), vec![id("user")]);
        // Digits are split one by one before BPE, as SmolLM2's pre-tokenizer does.
        assert_eq!(t.encode("12").unwrap(), vec![id("1"), id("2")]);
        let text = "hi hi\n12 héllo ✓";
        assert_eq!(t.decode(&t.encode(text).unwrap()).unwrap(), text);
        // A special token's spelling in text stays plain text, not the control token.
        let ids = t.encode("<|im_end|>").unwrap();
        assert!(!ids.contains(&t.im_end), "{ids:?}");
        assert!(t.ends_turn(t.im_end) && t.ends_turn(0) && !t.ends_turn(id("hi")));
    }

    #[test]
    fn chat_prompt_is_the_rendered_chatml_template() {
        let t = tiny();
        let message = |role: &str, content: &str| Message {
            role: role.into(),
            content: content.into(),
        };
        let with_system = [
            message("system", "Be brief."),
            message("user", "hi <|im_end|>"),
        ];
        let without = [message("user", "hi")];
        for messages in [&with_system[..], &without[..]] {
            let ids = t.chat_prompt(messages).unwrap();
            assert_eq!(t.inner.decode(&ids, false).unwrap(), render_chat(messages));
            // Only the template's own turns carry control tokens.
            let turns = ids.iter().filter(|&&i| i == t.im_start).count();
            assert_eq!(turns, 3);
            assert_eq!(ids.iter().filter(|&&i| i == t.im_end).count(), 2);
        }
        assert!(
            render_chat(&without).starts_with(&format!("<|im_start|>system\n{DEFAULT_SYSTEM}"))
        );
    }

    #[test]
    fn text_stream_holds_back_split_characters() {
        let t = tiny();
        // "é" is the bytes C3 A9, spelled "Ã" and "©" in the byte alphabet.
        let (a, b) = (
            t.inner.token_to_id("Ã").unwrap(),
            t.inner.token_to_id("©").unwrap(),
        );
        let mut stream = TextStream::default();
        assert_eq!(
            stream.push(&t, t.inner.token_to_id("hi").unwrap()).unwrap(),
            "hi"
        );
        assert_eq!(stream.push(&t, a).unwrap(), ""); // first byte of "é"
        assert_eq!(stream.push(&t, b).unwrap(), "é");
        assert_eq!(stream.text(&t).unwrap(), "hié");
    }
}
