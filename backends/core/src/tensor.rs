//! Typed tensors, as the Open Inference Protocol v2 moves them (Triton, KServe, MLServer): the
//! requests and answers of [`crate::Backend::infer`].
//!
//! A tensor's elements are held in the protocol's binary layout, the one gRPC's
//! `raw_input_contents` and REST's binary-data extension carry: row-major, little-endian, BOOL one
//! byte per element, BYTES each element a 4-byte little-endian length and then its bytes. A tensor
//! made from media goes to a gRPC server without being converted again.

use bytes::Bytes;
use serde_json::{Map, Value};

/// An element type of the v2 protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Datatype {
    /// `BOOL`: one byte, 0 or 1.
    Bool,
    /// `UINT8`.
    Uint8,
    /// `UINT16`.
    Uint16,
    /// `UINT32`.
    Uint32,
    /// `UINT64`.
    Uint64,
    /// `INT8`.
    Int8,
    /// `INT16`.
    Int16,
    /// `INT32`.
    Int32,
    /// `INT64`.
    Int64,
    /// `FP16`: IEEE half precision.
    Fp16,
    /// `BF16`: bfloat16.
    Bf16,
    /// `FP32`.
    Fp32,
    /// `FP64`.
    Fp64,
    /// `BYTES`: byte strings of any length.
    Bytes,
}

impl Datatype {
    /// Every datatype, in the protocol's order.
    pub const ALL: [Self; 14] = [
        Self::Bool,
        Self::Uint8,
        Self::Uint16,
        Self::Uint32,
        Self::Uint64,
        Self::Int8,
        Self::Int16,
        Self::Int32,
        Self::Int64,
        Self::Fp16,
        Self::Bf16,
        Self::Fp32,
        Self::Fp64,
        Self::Bytes,
    ];

    /// The protocol's name (`FP32`, `BYTES`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bool => "BOOL",
            Self::Uint8 => "UINT8",
            Self::Uint16 => "UINT16",
            Self::Uint32 => "UINT32",
            Self::Uint64 => "UINT64",
            Self::Int8 => "INT8",
            Self::Int16 => "INT16",
            Self::Int32 => "INT32",
            Self::Int64 => "INT64",
            Self::Fp16 => "FP16",
            Self::Bf16 => "BF16",
            Self::Fp32 => "FP32",
            Self::Fp64 => "FP64",
            Self::Bytes => "BYTES",
        }
    }

    /// The datatype of a protocol name (exact, upper case, as the protocol spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// Bytes per element; `None` for BYTES, whose elements carry their own lengths.
    pub fn size(self) -> Option<usize> {
        match self {
            Self::Bool | Self::Uint8 | Self::Int8 => Some(1),
            Self::Uint16 | Self::Int16 | Self::Fp16 | Self::Bf16 => Some(2),
            Self::Uint32 | Self::Int32 | Self::Fp32 => Some(4),
            Self::Uint64 | Self::Int64 | Self::Fp64 => Some(8),
            Self::Bytes => None,
        }
    }
}

impl std::fmt::Display for Datatype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tensor: its name, element type, shape, and elements in the v2 binary layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The input or output name at the model.
    pub name: String,
    /// The element type.
    pub datatype: Datatype,
    /// The dimensions, outermost first.
    pub shape: Vec<u64>,
    /// The elements, row-major, little-endian (see the module's notes on BOOL and BYTES).
    pub data: Bytes,
}

impl Tensor {
    /// The number of elements its shape holds, `None` on overflow.
    pub fn elements(&self) -> Option<u64> {
        element_count(&self.shape)
    }

    /// Checks that the data holds exactly the elements the shape says, each well formed.
    pub fn check(&self) -> Result<(), String> {
        let count = self
            .elements()
            .ok_or_else(|| format!("shape {:?} holds too many elements", self.shape))?;
        match self.datatype.size() {
            Some(size) => {
                let want = count.checked_mul(size as u64);
                if want != Some(self.data.len() as u64) {
                    return Err(format!(
                        "shape {:?} of {} needs {} bytes of data, not {}",
                        self.shape,
                        self.datatype,
                        want.map_or_else(|| "more".to_owned(), |n| n.to_string()),
                        self.data.len()
                    ));
                }
                if self.datatype == Datatype::Bool && self.data.iter().any(|b| *b > 1) {
                    return Err("BOOL elements must be 0 or 1".to_owned());
                }
                Ok(())
            }
            None => {
                let items = self.strings()?;
                if items.len() as u64 == count {
                    Ok(())
                } else {
                    Err(format!(
                        "shape {:?} holds {count} elements, the data {}",
                        self.shape,
                        items.len()
                    ))
                }
            }
        }
    }

    /// An FP32 tensor of `values`.
    pub fn from_f32(name: impl Into<String>, shape: Vec<u64>, values: &[f32]) -> Self {
        // Into a buffer of the final size, four bytes per element: a loop the compiler
        // vectorizes (a 224² picture is 150k elements, on every request).
        let mut data = vec![0u8; values.len() * 4];
        for (bytes, value) in data.chunks_exact_mut(4).zip(values) {
            bytes.copy_from_slice(&value.to_le_bytes());
        }
        Self {
            name: name.into(),
            datatype: Datatype::Fp32,
            shape,
            data: data.into(),
        }
    }

    /// A tensor of `values` as `datatype`: FP32, FP64, or rounded to FP16 or BF16; `None` for
    /// any other datatype.
    pub fn from_floats(
        name: impl Into<String>,
        datatype: Datatype,
        shape: Vec<u64>,
        values: &[f32],
    ) -> Option<Self> {
        let data: Vec<u8> = match datatype {
            Datatype::Fp32 => return Some(Self::from_f32(name, shape, values)),
            Datatype::Fp16 => values
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
            Datatype::Bf16 => values
                .iter()
                .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
                .collect(),
            Datatype::Fp64 => values
                .iter()
                .flat_map(|v| f64::from(*v).to_le_bytes())
                .collect(),
            _ => return None,
        };
        Some(Self {
            name: name.into(),
            datatype,
            shape,
            data: data.into(),
        })
    }

    /// A BYTES tensor of `items`.
    pub fn from_strings<S: AsRef<[u8]>>(
        name: impl Into<String>,
        shape: Vec<u64>,
        items: &[S],
    ) -> Result<Self, String> {
        let total: usize = items.iter().map(|s| 4 + s.as_ref().len()).sum();
        let mut data = Vec::with_capacity(total);
        for item in items {
            let item = item.as_ref();
            let len = u32::try_from(item.len())
                .map_err(|_| "a BYTES element is longer than 4 GiB".to_owned())?;
            data.extend_from_slice(&len.to_le_bytes());
            data.extend_from_slice(item);
        }
        Ok(Self {
            name: name.into(),
            datatype: Datatype::Bytes,
            shape,
            data: data.into(),
        })
    }

    /// The elements of a BYTES tensor.
    pub fn strings(&self) -> Result<Vec<&[u8]>, String> {
        if self.datatype != Datatype::Bytes {
            return Err(format!("a {} tensor has no byte strings", self.datatype));
        }
        let mut items = Vec::new();
        let mut rest: &[u8] = &self.data;
        while !rest.is_empty() {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or("a BYTES element's length is cut off")?;
            let len = u32::from_le_bytes(*len) as usize;
            if tail.len() < len {
                return Err("a BYTES element is cut off".to_owned());
            }
            let (item, tail) = tail.split_at(len);
            items.push(item);
            rest = tail;
        }
        Ok(items)
    }

    /// The elements of a numeric or BOOL tensor as f64 (exact for every type but 64-bit
    /// integers beyond 2^53); `None` for BYTES.
    pub fn to_f64s(&self) -> Option<Vec<f64>> {
        let size = self.datatype.size()?;
        let chunks = self.data.chunks_exact(size);
        let values = match self.datatype {
            Datatype::Bool | Datatype::Uint8 => chunks.map(|c| f64::from(c[0])).collect(),
            Datatype::Int8 => chunks.map(|c| f64::from(c[0] as i8)).collect(),
            Datatype::Uint16 => chunks
                .map(|c| f64::from(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Datatype::Int16 => chunks
                .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Datatype::Fp16 => chunks
                .map(|c| f64::from(half::f16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Datatype::Bf16 => chunks
                .map(|c| f64::from(half::bf16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Datatype::Uint32 => chunks
                .map(|c| f64::from(u32::from_le_bytes(word(c))))
                .collect(),
            Datatype::Int32 => chunks
                .map(|c| f64::from(i32::from_le_bytes(word(c))))
                .collect(),
            Datatype::Fp32 => chunks
                .map(|c| f64::from(f32::from_le_bytes(word(c))))
                .collect(),
            Datatype::Uint64 => chunks.map(|c| u64::from_le_bytes(long(c)) as f64).collect(),
            Datatype::Int64 => chunks.map(|c| i64::from_le_bytes(long(c)) as f64).collect(),
            Datatype::Fp64 => chunks.map(|c| f64::from_le_bytes(long(c))).collect(),
            Datatype::Bytes => return None,
        };
        Some(values)
    }
}

fn word(c: &[u8]) -> [u8; 4] {
    [c[0], c[1], c[2], c[3]]
}

fn long(c: &[u8]) -> [u8; 8] {
    [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]
}

/// The product of `shape`, `None` on overflow.
pub fn element_count(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, d| n.checked_mul(*d))
}

/// What a model declares of one of its inputs or outputs: a v2 server's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Its name.
    pub name: String,
    /// Its element type.
    pub datatype: Datatype,
    /// Its dimensions; `-1` is any size.
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// Whether a tensor of `shape` fits: the same rank, every fixed dimension equal.
    pub fn fits(&self, shape: &[u64]) -> bool {
        self.shape.len() == shape.len()
            && self
                .shape
                .iter()
                .zip(shape)
                .all(|(want, got)| *want < 0 || u64::try_from(*want).ok() == Some(*got))
    }
}

/// The tensors a model takes and gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signature {
    /// Its inputs.
    pub inputs: Vec<TensorSpec>,
    /// Its outputs.
    pub outputs: Vec<TensorSpec>,
}

/// One inference on tensors.
#[derive(Debug, Clone, Default)]
pub struct InferRequest {
    /// The model name at the backend.
    pub model: String,
    /// An id the answer echoes.
    pub id: Option<String>,
    /// The inputs, in the client's order (a refusal names one by its index).
    pub inputs: Vec<Tensor>,
    /// The outputs wanted, by name; empty for all of them.
    pub outputs: Vec<String>,
    /// Request parameters, passed on (booleans, integers and strings only).
    pub parameters: Map<String, Value>,
}

/// A model's answer to an [`InferRequest`].
#[derive(Debug, Clone, Default)]
pub struct InferResponse {
    /// The model that answered, as the server names it.
    pub model_name: String,
    /// Its version, if the server said.
    pub model_version: Option<String>,
    /// The request's id, echoed.
    pub id: Option<String>,
    /// The outputs.
    pub outputs: Vec<Tensor>,
    /// Response parameters from the server.
    pub parameters: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_lengths_are_checked() {
        let t = Tensor::from_strings("t", vec![3], &["a", "", "héllo"]).unwrap();
        assert_eq!(
            t.strings().unwrap(),
            [b"a" as &[u8], b"", "héllo".as_bytes()]
        );
        t.check().unwrap();
        let short = Tensor {
            shape: vec![4],
            ..t.clone()
        };
        assert!(short.check().unwrap_err().contains("4 elements"));
        let cut = Tensor {
            data: t.data.slice(..t.data.len() - 1),
            ..t
        };
        assert!(cut.check().is_err());
    }

    #[test]
    fn fixed_size_data_must_match_the_shape() {
        let t = Tensor::from_f32("x", vec![2, 2], &[1.0, 2.0, 3.0, 4.0]);
        t.check().unwrap();
        assert_eq!(t.to_f64s().unwrap(), [1.0, 2.0, 3.0, 4.0]);
        let half = Tensor::from_floats("h", Datatype::Fp16, vec![2], &[0.5, -2.0]).unwrap();
        assert_eq!(half.to_f64s().unwrap(), [0.5, -2.0]);
        let wide = Tensor::from_floats("d", Datatype::Fp64, vec![1], &[0.1]).unwrap();
        assert_eq!(wide.to_f64s().unwrap(), [f64::from(0.1f32)]);
        assert!(Tensor::from_floats("i", Datatype::Int8, vec![1], &[1.0]).is_none());
        let wrong = Tensor {
            shape: vec![2, 3],
            ..t
        };
        assert!(wrong.check().unwrap_err().contains("24 bytes"));
        let huge = Tensor {
            shape: vec![u64::MAX, 2],
            ..wrong
        };
        assert!(huge.check().is_err());
    }

    #[test]
    fn specs_fit_fixed_dimensions_and_any_size() {
        let spec = TensorSpec {
            name: "x".into(),
            datatype: Datatype::Fp32,
            shape: vec![-1, 3],
        };
        assert!(spec.fits(&[5, 3]));
        assert!(!spec.fits(&[5, 4]));
        assert!(!spec.fits(&[3]));
        assert_eq!(Datatype::parse("FP16"), Some(Datatype::Fp16));
        assert_eq!(Datatype::parse("fp16"), None);
        assert!(
            Datatype::ALL
                .iter()
                .all(|d| Datatype::parse(d.as_str()) == Some(*d))
        );
    }
}
