//! Reader for CTranslate2's `model.bin`.
//!
//! Layout (CTranslate2 `python/ctranslate2/specs/model_spec.py`, `ModelSpec._serialize`, read
//! back by `src/models/model.cc`), all integers little-endian:
//!
//! ```text
//! u32 binary_version                      (4..=6 carry a dtype id per variable)
//! str spec_name, u32 spec_revision        str = u16 length incl. NUL, bytes, NUL
//! u32 n_variables, then per variable:
//!     str name, u8 rank, u32 dims[rank], u8 dtype_id, u32 n_bytes, n_bytes of raw data
//! u32 n_aliases, then per alias: str alias, str target_variable_name
//! ```
//!
//! dtype ids follow `include/ctranslate2/types.h`: 0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use crate::WhisperError;

/// Oldest binary version with a dtype id per variable (older ones store an item size).
const MIN_BINARY_VERSION: u32 = 4;
/// Newest binary version this reader knows.
const MAX_BINARY_VERSION: u32 = 6;

/// Element type of a stored variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ct2DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl Ct2DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One stored variable: its shape, type and where its bytes lie in the file.
#[derive(Debug, Clone)]
struct Ct2Variable {
    shape: Vec<usize>,
    dtype: Ct2DType,
    bytes: Range<usize>,
}

/// A parsed `model.bin`: the raw file plus an index of its variables and aliases.
#[derive(Debug)]
pub(crate) struct Ct2Model {
    /// The model specification name, e.g. `WhisperSpec`.
    pub spec: String,
    /// The specification revision.
    pub revision: u32,
    data: Vec<u8>,
    variables: HashMap<String, Ct2Variable>,
    aliases: HashMap<String, String>,
}

impl Ct2Model {
    /// Reads and indexes the file at `path`.
    pub fn read(path: &Path) -> Result<Self, WhisperError> {
        let data = std::fs::read(path).map_err(|source| WhisperError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(data)
    }

    /// Indexes an in-memory `model.bin`.
    pub fn parse(data: Vec<u8>) -> Result<Self, WhisperError> {
        let mut cursor = Cursor { data: &data, at: 0 };
        let version = cursor.u32("binary version")?;
        if !(MIN_BINARY_VERSION..=MAX_BINARY_VERSION).contains(&version) {
            return Err(WhisperError::Ct2Format(format!(
                "binary version {version} is not supported (expected {MIN_BINARY_VERSION}..={MAX_BINARY_VERSION})"
            )));
        }
        let spec = cursor.string("spec name")?;
        let revision = cursor.u32("spec revision")?;

        let count = cursor.u32("variable count")?;
        let mut variables = HashMap::new();
        for _ in 0..count {
            let name = cursor.string("variable name")?;
            let rank = usize::from(cursor.u8(&name)?);
            let shape = (0..rank)
                .map(|_| cursor.u32(&name).map(|d| d as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let type_id = cursor.u8(&name)?;
            let dtype = Ct2DType::from_id(type_id).ok_or_else(|| WhisperError::BadVariable {
                name: name.clone(),
                problem: format!("unknown dtype id {type_id}"),
            })?;
            let n_bytes = cursor.u32(&name)? as usize;
            let elements: usize = shape.iter().product();
            if elements * dtype.size() != n_bytes {
                return Err(WhisperError::BadVariable {
                    name,
                    problem: format!("{n_bytes} bytes do not hold shape {shape:?} of {dtype:?}"),
                });
            }
            let bytes = cursor.take(n_bytes, &name)?;
            variables.insert(
                name,
                Ct2Variable {
                    shape,
                    dtype,
                    bytes,
                },
            );
        }

        let mut aliases = HashMap::new();
        let alias_count = cursor.u32("alias count")?;
        for _ in 0..alias_count {
            let alias = cursor.string("alias name")?;
            let target = cursor.string(&alias)?;
            aliases.insert(alias, target);
        }
        if cursor.at != data.len() {
            return Err(WhisperError::Ct2Format(format!(
                "{} trailing bytes after the aliases",
                data.len() - cursor.at
            )));
        }
        Ok(Self {
            spec,
            revision,
            data,
            variables,
            aliases,
        })
    }

    /// Whether a variable (or an alias of one) named `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.lookup(name).is_ok()
    }

    /// The shape of variable `name`.
    pub fn shape(&self, name: &str) -> Result<&[usize], WhisperError> {
        Ok(&self.lookup(name)?.shape)
    }

    /// The values of a floating-point variable as f32, after checking its shape.
    pub fn f32_values(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, WhisperError> {
        let variable = self.lookup(name)?;
        if variable.shape != expected {
            return Err(WhisperError::BadVariable {
                name: name.to_owned(),
                problem: format!("shape {:?}, expected {expected:?}", variable.shape),
            });
        }
        let bytes = &self.data[variable.bytes.clone()];
        let values = match variable.dtype {
            Ct2DType::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Ct2DType::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Ct2DType::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(WhisperError::BadVariable {
                    name: name.to_owned(),
                    problem: format!(
                        "dtype {other:?} is not a float type (quantized models are not supported)"
                    ),
                });
            }
        };
        Ok(values)
    }

    /// The value of an integer scalar (configuration values such as `encoder/num_heads`).
    pub fn int_scalar(&self, name: &str) -> Result<i64, WhisperError> {
        let variable = self.lookup(name)?;
        let bytes = &self.data[variable.bytes.clone()];
        let value = match (variable.dtype, bytes) {
            (Ct2DType::I8, [b]) => i64::from(i8::from_le_bytes([*b])),
            (Ct2DType::I16, [a, b]) => i64::from(i16::from_le_bytes([*a, *b])),
            (Ct2DType::I32, [a, b, c, d]) => i64::from(i32::from_le_bytes([*a, *b, *c, *d])),
            _ => {
                return Err(WhisperError::BadVariable {
                    name: name.to_owned(),
                    problem: format!(
                        "expected an integer scalar, found {:?} of shape {:?}",
                        variable.dtype, variable.shape
                    ),
                });
            }
        };
        Ok(value)
    }

    fn lookup(&self, name: &str) -> Result<&Ct2Variable, WhisperError> {
        let resolved = self.aliases.get(name).map_or(name, String::as_str);
        self.variables
            .get(resolved)
            .ok_or_else(|| WhisperError::MissingVariable(name.to_owned()))
    }
}

/// A bounds-checked little-endian reader over the file bytes.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, len: usize, what: &str) -> Result<Range<usize>, WhisperError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| {
                WhisperError::Ct2Format(format!(
                    "file ends inside `{what}` (needs {len} bytes at offset {})",
                    self.at
                ))
            })?;
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], WhisperError> {
        let range = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.data[range]);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, WhisperError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, WhisperError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// A string stored as u16 length (counting the trailing NUL), the bytes, and a NUL.
    fn string(&mut self, what: &str) -> Result<String, WhisperError> {
        let len = usize::from(u16::from_le_bytes(self.array(what)?));
        let range = self.take(len, what)?;
        let with_nul = &self.data[range];
        let text = with_nul
            .strip_suffix(&[0])
            .ok_or_else(|| WhisperError::Ct2Format(format!("`{what}`: string without NUL")))?;
        String::from_utf8(text.to_vec())
            .map_err(|_| WhisperError::Ct2Format(format!("`{what}`: string is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Writes a model.bin the way `ModelSpec._serialize` does.
    struct Writer(Vec<u8>);

    impl Writer {
        fn string(&mut self, s: &str) {
            self.0
                .extend_from_slice(&u16::try_from(s.len() + 1).unwrap().to_le_bytes());
            self.0.extend_from_slice(s.as_bytes());
            self.0.push(0);
        }
        fn u32(&mut self, v: u32) {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        fn variable(&mut self, name: &str, shape: &[u32], type_id: u8, bytes: &[u8]) {
            self.string(name);
            self.0.push(u8::try_from(shape.len()).unwrap());
            shape.iter().for_each(|&d| self.u32(d));
            self.0.push(type_id);
            self.u32(u32::try_from(bytes.len()).unwrap());
            self.0.extend_from_slice(bytes);
        }
    }

    fn tiny_model() -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.u32(6);
        w.string("WhisperSpec");
        w.u32(3);
        w.u32(3);
        let halves: Vec<u8> = [1.0f32, -2.5, 0.5, 65504.0, 0.0, -0.125]
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        w.variable("encoder/conv1/weight", &[2, 3], 4, &halves);
        w.variable("encoder/num_heads", &[], 2, &6i16.to_le_bytes());
        let floats: Vec<u8> = [3.25f32, -1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        w.variable("decoder/embeddings/weight", &[1, 2], 0, &floats);
        w.u32(1);
        w.string("decoder/projection/weight");
        w.string("decoder/embeddings/weight");
        w.0
    }

    #[test]
    fn reads_header_variables_and_aliases() {
        let model = Ct2Model::parse(tiny_model()).unwrap();
        assert_eq!(model.spec, "WhisperSpec");
        assert_eq!(model.revision, 3);
        assert_eq!(model.shape("encoder/conv1/weight").unwrap(), &[2, 3]);
        assert_eq!(
            model.f32_values("encoder/conv1/weight", &[2, 3]).unwrap(),
            vec![1.0, -2.5, 0.5, 65504.0, 0.0, -0.125]
        );
        assert_eq!(model.int_scalar("encoder/num_heads").unwrap(), 6);
        assert_eq!(
            model
                .f32_values("decoder/projection/weight", &[1, 2])
                .unwrap(),
            vec![3.25, -1.0]
        );
        assert!(model.contains("decoder/projection/weight"));
        assert!(!model.contains("decoder/nothing"));
    }

    #[test]
    fn errors_name_the_variable() {
        let model = Ct2Model::parse(tiny_model()).unwrap();
        let wrong_shape = model
            .f32_values("encoder/conv1/weight", &[3, 2])
            .unwrap_err();
        assert!(
            wrong_shape.to_string().contains("encoder/conv1/weight"),
            "{wrong_shape}"
        );
        assert!(wrong_shape.to_string().contains("[2, 3]"), "{wrong_shape}");
        let missing = model.f32_values("encoder/conv2/weight", &[1]).unwrap_err();
        assert!(
            matches!(missing, WhisperError::MissingVariable(ref n) if n == "encoder/conv2/weight")
        );
        let not_float = model.f32_values("encoder/num_heads", &[]).unwrap_err();
        assert!(
            not_float.to_string().contains("encoder/num_heads"),
            "{not_float}"
        );
    }

    #[test]
    fn rejects_truncated_and_unknown_versions() {
        let full = tiny_model();
        for cut in [3, 10, 40, full.len() - 1] {
            let err = Ct2Model::parse(full[..cut].to_vec()).unwrap_err();
            assert!(
                matches!(err, WhisperError::Ct2Format(_)),
                "cut {cut}: {err}"
            );
        }
        let mut old = full.clone();
        old[..4].copy_from_slice(&2u32.to_le_bytes());
        assert!(
            Ct2Model::parse(old)
                .unwrap_err()
                .to_string()
                .contains("binary version 2")
        );
        let mut trailing = full;
        trailing.push(0);
        assert!(Ct2Model::parse(trailing).is_err());
    }
}
