//! A reader for GGUF files (llama.cpp's model format, version 2 and 3): the metadata key/value
//! pairs and the tensor directory, over the file's bytes held in memory.
//!
//! Every length, count and offset read from the file is checked against the bytes that remain
//! before it is used, so a truncated or hostile file is an error, never a huge allocation or a
//! read out of bounds.

use std::collections::BTreeMap;

use crate::SmolLmError;

/// `GGUF` as a little-endian `u32`.
const MAGIC: u32 = 0x4655_4747;
/// Tensor data starts at a multiple of this unless `general.alignment` says otherwise.
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;
/// Arrays nested deeper than this are refused (GGUF files in the wild nest at most once).
const MAX_NESTING: u32 = 4;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any unsigned integer type, widened.
    Uint(u64),
    /// Any signed integer type, widened.
    Int(i64),
    /// `f32` or `f64`, widened.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    Str(String),
    /// An array of values of one type.
    Array(Vec<Value>),
}

/// The element types of ggml tensors this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    /// 32-bit floats.
    F32,
    /// 16-bit IEEE floats.
    F16,
    /// Blocks of 32: an f16 scale `d`, an f16 minimum `m`, 32 four-bit quants; `x = q·d + m`.
    Q4_1,
    /// Blocks of 32: an f16 scale `d`, 32 signed bytes; `x = q·d`.
    Q8_0,
}

impl TensorType {
    fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            _ => return None,
        })
    }

    /// (values per block, bytes per block).
    pub fn block(self) -> (u64, u64) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 => (1, 2),
            Self::Q4_1 => (32, 20),
            Self::Q8_0 => (32, 34),
        }
    }
}

/// Where one tensor is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// ggml dimensions, innermost first (`[columns, rows]` for a matrix).
    pub dims: Vec<usize>,
    /// Element type.
    pub kind: TensorType,
    /// Byte range within the file.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
}

impl TensorInfo {
    /// Number of values.
    pub fn values(&self) -> usize {
        self.dims.iter().product()
    }
}

/// A parsed GGUF file: metadata and tensor directory, plus the bytes the tensors live in.
#[derive(Debug)]
pub struct GgufFile {
    /// Metadata by key.
    pub metadata: BTreeMap<String, Value>,
    /// Tensors by name.
    pub tensors: BTreeMap<String, TensorInfo>,
    bytes: Vec<u8>,
}

impl GgufFile {
    /// Parses the whole file held in `bytes`.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, SmolLmError> {
        let mut r = Reader {
            bytes: &bytes,
            at: 0,
        };
        if r.u32()? != MAGIC {
            return Err(bad("not a GGUF file (wrong magic)"));
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(bad(&format!(
                "version {version}; only 2 and 3 are supported"
            )));
        }
        let tensor_count = r.u64()?;
        let kv_count = r.u64()?;
        let mut metadata = BTreeMap::new();
        for _ in 0..kv_count {
            // Each pair takes at least 12 bytes: a bound on a hostile count, checked as we go.
            r.need(12)?;
            let key = r.string()?;
            let kind = r.u32()?;
            let value = r.value(kind, 0)?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(Value::Uint(a)) if a.is_power_of_two() => *a,
            Some(other) => return Err(bad(&format!("general.alignment {other:?}"))),
        };
        let mut raw = Vec::new();
        for _ in 0..tensor_count {
            r.need(24)?;
            let name = r.string()?;
            let n_dims = r.u32()?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(bad(&format!("tensor {name}: {n_dims} dimensions")));
            }
            let dims = (0..n_dims)
                .map(|_| r.u64())
                .collect::<Result<Vec<_>, _>>()?;
            let type_id = r.u32()?;
            let kind = TensorType::from_id(type_id)
                .ok_or_else(|| bad(&format!("tensor {name}: unsupported ggml type {type_id}")))?;
            let offset = r.u64()?;
            raw.push((name, dims, kind, offset));
        }
        let data_start = (r.at as u64).next_multiple_of(alignment);
        let file_len = bytes.len() as u64;
        let mut tensors = BTreeMap::new();
        for (name, dims, kind, offset) in raw {
            let values = dims
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d))
                .ok_or_else(|| bad(&format!("tensor {name}: dimensions overflow")))?;
            let (per_block, block_bytes) = kind.block();
            if !dims[0].is_multiple_of(per_block) {
                return Err(bad(&format!(
                    "tensor {name}: rows of {} values are not whole blocks of {per_block}",
                    dims[0]
                )));
            }
            let len = (values / per_block)
                .checked_mul(block_bytes)
                .ok_or_else(|| bad(&format!("tensor {name}: size overflows")))?;
            let start = data_start
                .checked_add(offset)
                .filter(|s| s.checked_add(len).is_some_and(|end| end <= file_len))
                .ok_or_else(|| bad(&format!("tensor {name}: data lies outside the file")))?;
            let to_usize = |v: u64| usize::try_from(v).map_err(|_| bad("tensor too large"));
            let info = TensorInfo {
                dims: dims.into_iter().map(to_usize).collect::<Result<_, _>>()?,
                kind,
                start: to_usize(start)?,
                len: to_usize(len)?,
            };
            if tensors.insert(name.clone(), info).is_some() {
                return Err(bad(&format!("tensor {name} is listed twice")));
            }
        }
        Ok(Self {
            metadata,
            tensors,
            bytes,
        })
    }

    /// A tensor's directory entry and raw bytes.
    pub fn tensor(&self, name: &str) -> Result<(&TensorInfo, &[u8]), SmolLmError> {
        let info = self.tensors.get(name).ok_or_else(|| SmolLmError::Tensor {
            name: name.to_owned(),
            problem: "absent from the file".into(),
        })?;
        Ok((info, &self.bytes[info.start..info.start + info.len]))
    }

    /// [`Self::tensor`], which must have the ggml dimensions `dims` (innermost first).
    pub fn tensor_shaped(
        &self,
        name: &str,
        dims: &[usize],
    ) -> Result<(&TensorInfo, &[u8]), SmolLmError> {
        let (info, data) = self.tensor(name)?;
        if info.dims != dims {
            return Err(SmolLmError::Tensor {
                name: name.to_owned(),
                problem: format!("dimensions {:?}, expected {dims:?}", info.dims),
            });
        }
        Ok((info, data))
    }

    /// A metadata value, or an error naming the key.
    pub fn get(&self, key: &str) -> Result<&Value, SmolLmError> {
        self.metadata.get(key).ok_or_else(|| SmolLmError::Metadata {
            key: key.to_owned(),
            problem: "absent".into(),
        })
    }

    /// An unsigned integer metadata value.
    pub fn uint(&self, key: &str) -> Result<u64, SmolLmError> {
        match self.get(key)? {
            Value::Uint(v) => Ok(*v),
            Value::Int(v) if *v >= 0 => Ok(v.unsigned_abs()),
            other => Err(wrong_type(key, "an unsigned integer", other)),
        }
    }

    /// A float metadata value.
    pub fn float(&self, key: &str) -> Result<f64, SmolLmError> {
        match self.get(key)? {
            Value::Float(v) => Ok(*v),
            other => Err(wrong_type(key, "a float", other)),
        }
    }

    /// A string metadata value.
    pub fn str(&self, key: &str) -> Result<&str, SmolLmError> {
        match self.get(key)? {
            Value::Str(v) => Ok(v),
            other => Err(wrong_type(key, "a string", other)),
        }
    }

    /// An array metadata value.
    pub fn array(&self, key: &str) -> Result<&[Value], SmolLmError> {
        match self.get(key)? {
            Value::Array(v) => Ok(v),
            other => Err(wrong_type(key, "an array", other)),
        }
    }
}

fn wrong_type(key: &str, wanted: &str, got: &Value) -> SmolLmError {
    let got = match got {
        Value::Array(items) => format!("an array of {}", items.len()),
        other => format!("{other:?}"),
    };
    SmolLmError::Metadata {
        key: key.to_owned(),
        problem: format!("expected {wanted}, found {got}"),
    }
}

fn bad(problem: &str) -> SmolLmError {
    SmolLmError::Gguf(problem.to_owned())
}

/// A cursor over the file's bytes that refuses to read past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn need(&self, n: u64) -> Result<(), SmolLmError> {
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(bad(&format!(
                "truncated at byte {}: {n} more bytes needed, {left} left",
                self.at
            )));
        }
        Ok(())
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], SmolLmError> {
        self.need(N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[self.at..self.at + N]);
        self.at += N;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, SmolLmError> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, SmolLmError> {
        self.take().map(u64::from_le_bytes)
    }

    fn string(&mut self) -> Result<String, SmolLmError> {
        let len = self.u64()?;
        self.need(len)?;
        let len = len as usize; // fits: it is at most the bytes left
        let text = std::str::from_utf8(&self.bytes[self.at..self.at + len])
            .map_err(|_| bad(&format!("string at byte {} is not UTF-8", self.at)))?;
        self.at += len;
        Ok(text.to_owned())
    }

    fn value(&mut self, kind: u32, depth: u32) -> Result<Value, SmolLmError> {
        Ok(match kind {
            0 => Value::Uint(u64::from(self.take::<1>()?[0])),
            1 => Value::Int(i64::from(i8::from_le_bytes(self.take()?))),
            2 => Value::Uint(u64::from(u16::from_le_bytes(self.take()?))),
            3 => Value::Int(i64::from(i16::from_le_bytes(self.take()?))),
            4 => Value::Uint(u64::from(self.u32()?)),
            5 => Value::Int(i64::from(i32::from_le_bytes(self.take()?))),
            6 => Value::Float(f64::from(f32::from_le_bytes(self.take()?))),
            7 => match self.take::<1>()?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(bad(&format!("bool byte {b}"))),
            },
            8 => Value::Str(self.string()?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(bad("arrays nested too deep"));
                }
                let item_kind = self.u32()?;
                let count = self.u64()?;
                // Every element takes at least one byte: a hostile count fails here, before
                // anything is allocated for it.
                self.need(count)?;
                // Grown as elements really parse, not reserved from the declared count.
                let mut items = Vec::with_capacity((count as usize).min(1 << 16));
                for _ in 0..count {
                    items.push(self.value(item_kind, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::Uint(self.u64()?),
            11 => Value::Int(i64::from_le_bytes(self.take()?)),
            12 => Value::Float(f64::from_le_bytes(self.take()?)),
            other => return Err(bad(&format!("unknown metadata type {other}"))),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Builds a GGUF v3 file in memory.
    #[derive(Default)]
    pub(crate) struct Builder {
        kv: Vec<u8>,
        kv_count: u64,
        infos: Vec<u8>,
        data: Vec<u8>,
        tensor_count: u64,
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    impl Builder {
        pub fn uint(mut self, key: &str, v: u32) -> Self {
            string(&mut self.kv, key);
            self.kv.extend(4u32.to_le_bytes());
            self.kv.extend(v.to_le_bytes());
            self.kv_count += 1;
            self
        }

        pub fn string(mut self, key: &str, v: &str) -> Self {
            string(&mut self.kv, key);
            self.kv.extend(8u32.to_le_bytes());
            string(&mut self.kv, v);
            self.kv_count += 1;
            self
        }

        pub fn ints(mut self, key: &str, items: &[i32]) -> Self {
            string(&mut self.kv, key);
            self.kv.extend(9u32.to_le_bytes());
            self.kv.extend(5u32.to_le_bytes());
            self.kv.extend((items.len() as u64).to_le_bytes());
            for item in items {
                self.kv.extend(item.to_le_bytes());
            }
            self.kv_count += 1;
            self
        }

        pub fn strings(mut self, key: &str, items: &[&str]) -> Self {
            string(&mut self.kv, key);
            self.kv.extend(9u32.to_le_bytes());
            self.kv.extend(8u32.to_le_bytes());
            self.kv.extend((items.len() as u64).to_le_bytes());
            for item in items {
                string(&mut self.kv, item);
            }
            self.kv_count += 1;
            self
        }

        pub fn tensor(mut self, name: &str, dims: &[u64], type_id: u32, data: &[u8]) -> Self {
            string(&mut self.infos, name);
            self.infos.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                self.infos.extend(d.to_le_bytes());
            }
            self.infos.extend(type_id.to_le_bytes());
            let offset = self.data.len().next_multiple_of(32);
            self.data.resize(offset, 0);
            self.infos.extend((offset as u64).to_le_bytes());
            self.data.extend(data);
            self.tensor_count += 1;
            self
        }

        pub fn build(self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend(MAGIC.to_le_bytes());
            out.extend(3u32.to_le_bytes());
            out.extend(self.tensor_count.to_le_bytes());
            out.extend(self.kv_count.to_le_bytes());
            out.extend(self.kv);
            out.extend(self.infos);
            out.resize(out.len().next_multiple_of(32), 0);
            out.extend(self.data);
            out
        }
    }

    #[test]
    fn reads_metadata_and_tensors() {
        let floats: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let bytes = Builder::default()
            .uint("llama.block_count", 30)
            .strings("tokenizer.ggml.tokens", &["a", "bc", "<|im_end|>"])
            .tensor("x", &[3, 2], 0, &floats)
            .tensor("y", &[2], 0, &floats[..8])
            .build();
        let file = GgufFile::parse(bytes).unwrap();
        assert_eq!(file.uint("llama.block_count").unwrap(), 30);
        let tokens = file.array("tokenizer.ggml.tokens").unwrap();
        assert_eq!(tokens[2], Value::Str("<|im_end|>".into()));
        let (info, data) = file.tensor("x").unwrap();
        assert_eq!(
            (info.dims.as_slice(), info.kind),
            ([3, 2].as_slice(), TensorType::F32)
        );
        assert_eq!(data, &floats[..]);
        assert_eq!(file.tensor("y").unwrap().1, &floats[..8]);
        let err = file.str("llama.block_count").unwrap_err().to_string();
        assert!(err.contains("expected a string"), "{err}");
        assert!(file.tensor("z").is_err());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = Builder::default()
            .uint("k", 1)
            .strings("s", &["x", "yz"])
            .tensor("t", &[32], 3, &[7; 20])
            .build();
        assert!(GgufFile::parse(bytes.clone()).is_ok());
        for cut in 0..bytes.len() {
            assert!(
                GgufFile::parse(bytes[..cut].to_vec()).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn hostile_counts_and_offsets_are_refused() {
        // An array claiming 2^60 strings in a tiny file.
        let mut bytes = Builder::default().strings("s", &["x"]).build();
        let count_at = 4 + 4 + 8 + 8 + 8 + 1 + 4 + 4;
        bytes[count_at..count_at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(GgufFile::parse(bytes).is_err());

        // A tensor whose data would lie past the end of the file.
        let bytes = Builder::default()
            .tensor("t", &[1 << 40, 1 << 20], 0, &[])
            .build();
        let err = GgufFile::parse(bytes).unwrap_err().to_string();
        assert!(
            err.contains("outside the file") || err.contains("overflow"),
            "{err}"
        );

        // Rows that are not whole quantization blocks.
        let bytes = Builder::default().tensor("t", &[31], 3, &[0; 20]).build();
        assert!(GgufFile::parse(bytes).is_err());

        // Unknown ggml types and bad magic.
        let bytes = Builder::default().tensor("t", &[4], 99, &[0; 16]).build();
        assert!(GgufFile::parse(bytes).is_err());
        assert!(GgufFile::parse(b"GGML\x03\0\0\0".to_vec()).is_err());
    }
}
