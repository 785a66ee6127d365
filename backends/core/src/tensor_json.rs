//! Tensor data in the v2 protocol's JSON form: a row-major array (flat, or nested one level per
//! dimension) of booleans, numbers or strings. Read from clients and REST servers, written for
//! both; gRPC carries the binary layout instead and never comes through here.

use crate::tensor::{Datatype, Tensor};
use bytes::Bytes;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::Value;

/// Converts a JSON `data` array of `datatype` into the binary layout, checking each element
/// (type, range) and that there are `expected` of them. Errors name the element by its
/// position in row-major order.
pub fn data_from_json(datatype: Datatype, data: &Value, expected: u64) -> Result<Bytes, String> {
    let mut out = Vec::with_capacity(
        usize::try_from(expected)
            .unwrap_or(0)
            .saturating_mul(datatype.size().unwrap_or(8))
            .min(1 << 24),
    );
    let mut count = 0u64;
    match data {
        Value::Array(_) => push_all(datatype, data, &mut out, &mut count)?,
        // A one-element tensor may come as the bare element.
        other => push_one(datatype, other, &mut out, &mut count)?,
    }
    if count != expected {
        return Err(format!(
            "the shape holds {expected} elements, `data` has {count}"
        ));
    }
    Ok(out.into())
}

fn push_all(
    datatype: Datatype,
    value: &Value,
    out: &mut Vec<u8>,
    count: &mut u64,
) -> Result<(), String> {
    match value {
        // serde_json stops nesting at 128 levels when parsing, which bounds this recursion.
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| push_all(datatype, item, out, count)),
        other => push_one(datatype, other, out, count),
    }
}

fn push_one(
    datatype: Datatype,
    value: &Value,
    out: &mut Vec<u8>,
    count: &mut u64,
) -> Result<(), String> {
    let at = *count;
    let bad = || {
        format!(
            "element {at} ({}) is not a valid {datatype}",
            shorten(&value.to_string())
        )
    };
    let int = |min: i128, max: i128| -> Result<i128, String> {
        let n = value
            .as_i64()
            .map(i128::from)
            .or_else(|| value.as_u64().map(i128::from))
            .ok_or_else(bad)?;
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(format!("element {at} ({n}) is out of range for {datatype}"))
        }
    };
    let float = |max: f64| -> Result<f64, String> {
        let x = value.as_f64().ok_or_else(bad)?;
        if x.abs() <= max {
            Ok(x)
        } else {
            Err(format!("element {at} ({x}) is out of range for {datatype}"))
        }
    };
    match datatype {
        Datatype::Bool => out.push(u8::from(value.as_bool().ok_or_else(bad)?)),
        Datatype::Uint8 => out.push(int(0, 255)? as u8),
        Datatype::Int8 => out.push(int(-128, 127)? as i8 as u8),
        Datatype::Uint16 => out.extend_from_slice(&(int(0, 65_535)? as u16).to_le_bytes()),
        Datatype::Int16 => out.extend_from_slice(&(int(-32_768, 32_767)? as i16).to_le_bytes()),
        Datatype::Uint32 => {
            out.extend_from_slice(&(int(0, i128::from(u32::MAX))? as u32).to_le_bytes());
        }
        Datatype::Int32 => out.extend_from_slice(
            &(int(i128::from(i32::MIN), i128::from(i32::MAX))? as i32).to_le_bytes(),
        ),
        Datatype::Uint64 => {
            out.extend_from_slice(&(int(0, i128::from(u64::MAX))? as u64).to_le_bytes());
        }
        Datatype::Int64 => out.extend_from_slice(
            &(int(i128::from(i64::MIN), i128::from(i64::MAX))? as i64).to_le_bytes(),
        ),
        Datatype::Fp16 => {
            let x = float(f64::from(half::f16::MAX))?;
            out.extend_from_slice(&half::f16::from_f64(x).to_le_bytes());
        }
        Datatype::Bf16 => {
            let x = float(f64::from(half::bf16::MAX))?;
            out.extend_from_slice(&half::bf16::from_f64(x).to_le_bytes());
        }
        Datatype::Fp32 => {
            out.extend_from_slice(&(float(f64::from(f32::MAX))? as f32).to_le_bytes())
        }
        Datatype::Fp64 => out.extend_from_slice(&float(f64::MAX)?.to_le_bytes()),
        Datatype::Bytes => {
            let text = value.as_str().ok_or_else(bad)?;
            let len = u32::try_from(text.len()).map_err(|_| bad())?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
    *count += 1;
    Ok(())
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A tensor's data written as a flat JSON array: booleans for BOOL, numbers, and strings for
/// BYTES (a byte string that is not UTF-8 is written with replacement characters, since JSON
/// strings must be text). A tensor whose data does not match its type writes an error.
pub struct JsonData<'a>(pub &'a Tensor);

impl Serialize for JsonData<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tensor = self.0;
        let fail =
            |what: String| serde::ser::Error::custom(format!("tensor `{}`: {what}", tensor.name));
        let Some(size) = tensor.datatype.size() else {
            let items = tensor.strings().map_err(fail)?;
            let mut seq = serializer.serialize_seq(Some(items.len()))?;
            for item in items {
                seq.serialize_element(&String::from_utf8_lossy(item))?;
            }
            return seq.end();
        };
        if !tensor.data.len().is_multiple_of(size) {
            return Err(fail(format!(
                "{} bytes are not whole {} elements",
                tensor.data.len(),
                tensor.datatype
            )));
        }
        let chunks = tensor.data.chunks_exact(size);
        let mut seq = serializer.serialize_seq(Some(chunks.len()))?;
        for c in chunks {
            match tensor.datatype {
                Datatype::Bool => seq.serialize_element(&(c[0] != 0))?,
                Datatype::Uint8 => seq.serialize_element(&c[0])?,
                Datatype::Int8 => seq.serialize_element(&(c[0] as i8))?,
                Datatype::Uint16 => seq.serialize_element(&u16::from_le_bytes([c[0], c[1]]))?,
                Datatype::Int16 => seq.serialize_element(&i16::from_le_bytes([c[0], c[1]]))?,
                Datatype::Fp16 => {
                    seq.serialize_element(&half::f16::from_le_bytes([c[0], c[1]]).to_f32())?;
                }
                Datatype::Bf16 => {
                    seq.serialize_element(&half::bf16::from_le_bytes([c[0], c[1]]).to_f32())?;
                }
                Datatype::Uint32 => seq.serialize_element(&u32::from_le_bytes(word(c)))?,
                Datatype::Int32 => seq.serialize_element(&i32::from_le_bytes(word(c)))?,
                Datatype::Fp32 => seq.serialize_element(&f32::from_le_bytes(word(c)))?,
                Datatype::Uint64 => seq.serialize_element(&u64::from_le_bytes(long(c)))?,
                Datatype::Int64 => seq.serialize_element(&i64::from_le_bytes(long(c)))?,
                Datatype::Fp64 => seq.serialize_element(&f64::from_le_bytes(long(c)))?,
                Datatype::Bytes => unreachable_bytes()?,
            }
        }
        seq.end()
    }
}

/// BYTES has no fixed size and returned above; kept as an error rather than a panic.
fn unreachable_bytes<E: serde::ser::Error>() -> Result<(), E> {
    Err(E::custom("BYTES data has no fixed element size"))
}

fn word(c: &[u8]) -> [u8; 4] {
    [c[0], c[1], c[2], c[3]]
}

fn long(c: &[u8]) -> [u8; 8] {
    [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(datatype: Datatype, data: Value, shape: Vec<u64>) -> Value {
        let count = crate::tensor::element_count(&shape).unwrap();
        let bytes = data_from_json(datatype, &data, count).unwrap();
        let tensor = Tensor {
            name: "t".into(),
            datatype,
            shape,
            data: bytes,
        };
        tensor.check().unwrap();
        // Through the text, as clients read it: an f32 is written in its shortest form.
        serde_json::from_str(&serde_json::to_string(&JsonData(&tensor)).unwrap()).unwrap()
    }

    #[test]
    fn every_type_round_trips_nested_or_flat() {
        assert_eq!(
            round_trip(
                Datatype::Fp32,
                json!([[0.5, -2.25], [1e-3, 3.0]]),
                vec![2, 2]
            ),
            json!([0.5, -2.25, 0.001, 3.0])
        );
        assert_eq!(
            round_trip(Datatype::Int64, json!([-9007199254740993i64, 7]), vec![2]),
            json!([-9007199254740993i64, 7])
        );
        assert_eq!(
            round_trip(Datatype::Uint8, json!([0, 255]), vec![2]),
            json!([0, 255])
        );
        assert_eq!(
            round_trip(Datatype::Bool, json!([true, false]), vec![2]),
            json!([true, false])
        );
        assert_eq!(
            round_trip(Datatype::Fp16, json!([1.5, -0.25]), vec![2]),
            json!([1.5, -0.25])
        );
        assert_eq!(
            round_trip(Datatype::Bytes, json!(["a", "ü"]), vec![2]),
            json!(["a", "ü"])
        );
        assert_eq!(
            round_trip(Datatype::Fp64, json!(2.5), vec![1]),
            json!([2.5])
        );
    }

    #[test]
    fn bad_elements_and_counts_are_named() {
        let err = data_from_json(Datatype::Uint8, &json!([1, 256]), 2).unwrap_err();
        assert!(
            err.contains("element 1 (256) is out of range for UINT8"),
            "{err}"
        );
        let err = data_from_json(Datatype::Int32, &json!([1, 2.5]), 2).unwrap_err();
        assert!(
            err.contains("element 1 (2.5) is not a valid INT32"),
            "{err}"
        );
        let err = data_from_json(Datatype::Fp32, &json!([1, "x"]), 2).unwrap_err();
        assert!(err.contains("element 1"), "{err}");
        let err = data_from_json(Datatype::Fp32, &json!([1e39]), 1).unwrap_err();
        assert!(err.contains("out of range for FP32"), "{err}");
        let err = data_from_json(Datatype::Fp32, &json!([1, 2, 3]), 4).unwrap_err();
        assert!(err.contains("holds 4 elements, `data` has 3"), "{err}");
    }
}
