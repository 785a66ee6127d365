//! Decoding of `data:[<mediatype>][;base64],<data>` URLs under a byte cap.
//!
//! The payload is decoded in one pass that percent-decodes, drops whitespace (for
//! base64) and stops as soon as the *encoded* size exceeds what `max_bytes` can
//! produce, so a huge hostile payload never gets a large buffer allocated for it.

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;

use crate::error::FetchError;

/// Standard alphabet, padding optional, stray low bits tolerated: what browsers'
/// "forgiving base64" accepts, minus whitespace (removed before decoding).
const FORGIVING: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes the part of a data URL after `data:`; returns the bytes and the
/// media type essence (lowercase `type/subtype`, if the URL names one).
pub(crate) fn decode(rest: &str, max_bytes: usize) -> Result<(Bytes, Option<String>), FetchError> {
    let (header, payload) = rest.split_once(',').ok_or(FetchError::InvalidData {
        reason: "missing ',' before the payload",
    })?;
    let mut params = header.split(';');
    let media_type = params.next().and_then(essence);
    let is_base64 = params
        .next_back()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("base64"));

    let bytes = if is_base64 {
        decode_base64(payload, max_bytes)?
    } else {
        percent_decode_capped(payload, max_bytes, false)
            .ok_or(FetchError::TooLarge { limit: max_bytes })?
    };
    Ok((Bytes::from(bytes), media_type))
}

/// Decodes base64 text (percent-escapes and ASCII whitespace tolerated, padding
/// optional) to at most `max_bytes`, refusing text too long for that before
/// decoding anything.
pub(crate) fn decode_base64(text: &str, max_bytes: usize) -> Result<Vec<u8>, FetchError> {
    // 4 characters per 3 bytes, rounded up: the longest (padded) encoding of
    // `max_bytes` bytes; anything longer decodes to more than the cap.
    let encoded_cap = max_bytes.div_ceil(3).saturating_mul(4);
    let encoded = percent_decode_capped(text, encoded_cap, true)
        .ok_or(FetchError::TooLarge { limit: max_bytes })?;
    let decoded = FORGIVING
        .decode(&encoded)
        .map_err(|_| FetchError::InvalidData {
            reason: "payload is marked ;base64 but is not valid base64",
        })?;
    if decoded.len() > max_bytes {
        return Err(FetchError::TooLarge { limit: max_bytes });
    }
    Ok(decoded)
}

/// Lowercase `type/subtype` without parameters, or `None` if it is not one.
pub(crate) fn essence(content_type: &str) -> Option<String> {
    let essence = content_type.split(';').next()?.trim();
    let (kind, sub) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (token(kind) && token(sub)).then(|| essence.to_ascii_lowercase())
}

/// Percent-decodes `s` (a `%` not followed by two hex digits stays literal, as
/// browsers do), optionally dropping ASCII whitespace; `None` once the output
/// would exceed `cap` bytes.
fn percent_decode_capped(s: &str, cap: usize, skip_whitespace: bool) -> Option<Vec<u8>> {
    let input = s.as_bytes();
    let mut out = Vec::with_capacity(input.len().min(cap));
    let mut i = 0;
    while i < input.len() {
        let mut byte = input[i];
        i += 1;
        if byte == b'%'
            && let Some(decoded) = input.get(i..i + 2).and_then(hex_pair)
        {
            byte = decoded;
            i += 2;
        }
        if skip_whitespace && byte.is_ascii_whitespace() {
            continue;
        }
        if out.len() == cap {
            return None;
        }
        out.push(byte);
    }
    Some(out)
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    let (hi, lo) = (digit(*pair.first()?)?, digit(*pair.get(1)?)?);
    u8::try_from(hi * 16 + lo).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(rest: &str, max: usize) -> (Vec<u8>, Option<String>) {
        let (bytes, mime) = decode(rest, max).unwrap();
        (bytes.to_vec(), mime)
    }

    #[test]
    fn base64_with_media_type() {
        let (bytes, mime) = ok("image/PNG;base64,aGVsbG8=", 100);
        assert_eq!(bytes, b"hello");
        assert_eq!(mime.as_deref(), Some("image/png"));
    }

    #[test]
    fn base64_missing_padding_and_whitespace() {
        assert_eq!(ok(";base64,aGVs bG8", 100).0, b"hello");
        assert_eq!(ok(";base64, aG\r\nVs\tbG8 = ", 100).0, b"hello");
        assert_eq!(ok("image/png;BASE64,aGk", 100).0, b"hi");
    }

    #[test]
    fn base64_percent_encoded() {
        // "+/8=" is 0xfb 0xff; clients sometimes percent-encode '+' and '/'.
        assert_eq!(ok(";base64,%2B%2F8%3D", 100).0, [0xfb, 0xff]);
    }

    #[test]
    fn media_type_parameters_are_dropped() {
        let (bytes, mime) = ok("text/plain;charset=utf-8;base64,aGk=", 100);
        assert_eq!(bytes, b"hi");
        assert_eq!(mime.as_deref(), Some("text/plain"));
    }

    #[test]
    fn plain_percent_encoded() {
        let (bytes, mime) = ok(",a%20b%zz%4", 100);
        assert_eq!(bytes, b"a b%zz%4");
        assert_eq!(mime, None);
        // Whitespace is data when not base64; an empty payload is fine.
        assert_eq!(ok("text/plain, x ", 100).0, b" x ");
        assert_eq!(ok(",", 100).0, b"");
    }

    #[test]
    fn charset_parameter_named_base64_is_not_base64() {
        // Only a final bare `;base64` switches the encoding.
        assert_eq!(ok("text/plain;base64=no,aGk", 100).0, b"aGk");
    }

    #[test]
    fn invalid_base64_is_a_clear_error() {
        for bad in [
            ";base64,a",
            ";base64,aGk*",
            ";base64,aG==k",
            ";base64,aGk====",
        ] {
            let err = decode(bad, 100).unwrap_err();
            assert!(
                matches!(err, FetchError::InvalidData { .. }),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains("not valid base64"), "{err}");
        }
    }

    #[test]
    fn missing_comma() {
        assert!(matches!(
            decode("image/png;base64", 100),
            Err(FetchError::InvalidData { .. })
        ));
    }

    #[test]
    fn cap_is_enforced_on_encoded_and_decoded_size() {
        // Exactly at the cap: 6 bytes.
        assert_eq!(ok(";base64,aGVsbG8h", 6).0, b"hello!");
        // 6 bytes with a cap of 5: passes the encoded check, fails after decoding.
        assert!(matches!(
            decode(";base64,aGVsbG8h", 5),
            Err(FetchError::TooLarge { limit: 5 })
        ));
        // Far over: refused on the encoded length, before any decoding.
        let huge = format!(";base64,{}", "A".repeat(1 << 20));
        assert!(matches!(
            decode(&huge, 10),
            Err(FetchError::TooLarge { .. })
        ));
        assert!(matches!(
            decode(",hello!", 5),
            Err(FetchError::TooLarge { limit: 5 })
        ));
        assert_eq!(ok(",hello", 5).0, b"hello");
    }

    #[test]
    fn essence_rejects_non_types() {
        assert_eq!(essence("image/webp; q=1").as_deref(), Some("image/webp"));
        assert_eq!(essence("nonsense"), None);
        assert_eq!(essence("a/"), None);
        assert_eq!(essence("a b/c"), None);
        assert_eq!(essence(""), None);
    }
}
