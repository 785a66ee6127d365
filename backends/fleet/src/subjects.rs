//! The NATS subjects and queue group of a fleet, and the reversible escaping that puts any model
//! name into one subject token.
//!
//! | what | subject |
//! |---|---|
//! | requests for model `M` | `{prefix}.req.{token(M)}` |
//! | the queue group workers join per model | `{prefix}-workers` |
//! | worker heartbeats (JSON) | `{prefix}.heartbeat` |
//!
//! `token(M)` keeps ASCII letters, digits and `- _ / : + = @ ~` as they are and writes every
//! other byte of the name's UTF-8 (`.`, `*`, `>`, spaces, `%`, non-ASCII...) as `%XX` (two
//! upper-case hex digits), so `org/llama-3.1 8b` travels as `org/llama-3%2E1%208b`. The escaping
//! is reversible ([`model_of_token`]) and never produces `.`, wildcards or whitespace, so a name
//! is always exactly one token.

use std::fmt::Write;

/// Bytes a model name keeps as they are inside its subject token.
fn kept(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-_/:+=@~".contains(&byte)
}

/// The model name as one subject token (see the module docs).
pub fn model_token(model: &str) -> String {
    let mut token = String::with_capacity(model.len());
    for byte in model.bytes() {
        if kept(byte) {
            token.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(token, "%{byte:02X}");
        }
    }
    token
}

/// The model name a token stands for; `None` if the token is not one [`model_token`] writes.
pub fn model_of_token(token: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(token.len());
    let mut rest = token.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = tail.get(..2)?;
            let text = std::str::from_utf8(hex).ok()?;
            if text.bytes().any(|b| b.is_ascii_lowercase()) {
                return None;
            }
            let byte = u8::from_str_radix(text, 16).ok()?;
            if kept(byte) {
                return None;
            }
            bytes.push(byte);
            rest = &tail[2..];
        } else if kept(first) {
            bytes.push(first);
            rest = tail;
        } else {
            return None;
        }
    }
    String::from_utf8(bytes).ok()
}

/// Where requests for `model` are published.
pub fn request_subject(prefix: &str, model: &str) -> String {
    format!("{prefix}.req.{}", model_token(model))
}

/// Where workers publish their heartbeats.
pub fn heartbeat_subject(prefix: &str) -> String {
    format!("{prefix}.heartbeat")
}

/// The queue group every worker of the fleet joins (one member per model it serves).
pub fn queue_group(prefix: &str) -> String {
    format!("{prefix}-workers")
}

/// Checks a subject prefix: dot-separated, non-empty tokens without wildcards or whitespace.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    let bad_token = |token: &str| {
        token.is_empty()
            || token
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
    };
    if prefix.split('.').any(bad_token) {
        return Err(format!(
            "subject prefix {prefix:?} must be dot-separated tokens without spaces or wildcards"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_one_token_and_come_back() {
        for name in [
            "llama",
            "org/llama-3.1 8b",
            "a.b.c",
            "*",
            ">",
            "100%",
            "naïve 模型",
            "x%2Ey",
            "",
        ] {
            let token = model_token(name);
            assert!(
                !token.contains(['.', '*', '>', ' ']),
                "{name:?} -> {token:?}"
            );
            assert_eq!(model_of_token(&token).as_deref(), Some(name), "{token}");
        }
        assert_eq!(model_token("org/llama-3.1 8b"), "org/llama-3%2E1%208b");
        assert_eq!(
            request_subject("omnigate", "m.1"),
            "omnigate.req.m%2E1".to_owned()
        );
    }

    #[test]
    fn tokens_not_written_by_the_encoder_are_refused() {
        for token in ["a.b", "%2", "%zz", "%2e", "%41", "a b", "%FF"] {
            assert_eq!(model_of_token(token), None, "{token}");
        }
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(check_prefix("omnigate").is_ok());
        assert!(check_prefix("prod.omnigate").is_ok());
        for bad in ["", "a..b", "a.*", "a b", ">", ".a"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
