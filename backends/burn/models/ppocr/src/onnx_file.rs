//! Just enough of the ONNX protobuf schema to read weights and metadata at run time.
//!
//! The network structure is compiled in (`src/generated/`); what is read here are the
//! float tensors it needs (PaddleOCR exports them as `Constant` nodes; initializers are read
//! too) and the model metadata (the recognizer's character list).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::OcrError;

/// ONNX `TensorProto.DataType` codes read here.
const ONNX_FLOAT: i32 = 1;
const ONNX_INT32: i32 = 6;
const ONNX_INT64: i32 = 7;

#[derive(Clone, PartialEq, prost::Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "14")]
    metadata_props: Vec<StringStringEntryProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "5")]
    t: Option<TensorProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    int32_data: Vec<i32>,
    #[prost(int64, repeated, tag = "7")]
    int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StringStringEntryProto {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, tag = "2")]
    value: String,
}

/// The values of one ONNX tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// `FLOAT` data.
    Float(Vec<f32>),
    /// `INT32` or `INT64` data (shape arithmetic constants).
    Int(Vec<i64>),
}

impl Values {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::Float(values) => values.len(),
            Self::Int(values) => values.len(),
        }
    }
}

/// One float or integer tensor of an ONNX file.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxTensor {
    /// Dimensions as stored in the file.
    pub dims: Vec<usize>,
    /// The values.
    pub values: Values,
}

/// The float tensors and metadata of one ONNX file.
#[derive(Debug)]
pub struct OnnxFile {
    /// Where it was read from (for error messages).
    pub path: PathBuf,
    /// Float and integer tensors by name: initializers and the outputs of `Constant` nodes.
    pub tensors: HashMap<String, OnnxTensor>,
    /// `metadata_props` key -> value.
    pub metadata: HashMap<String, String>,
}

impl OnnxFile {
    /// Reads and decodes `path`.
    pub fn read(path: &Path) -> Result<Self, OcrError> {
        let bytes = std::fs::read(path).map_err(|source| OcrError::Io {
            path: path.into(),
            source,
        })?;
        let model = <ModelProto as prost::Message>::decode(bytes.as_slice()).map_err(|source| {
            OcrError::OnnxDecode {
                path: path.into(),
                source,
            }
        })?;
        let metadata = model
            .metadata_props
            .into_iter()
            .map(|entry| (entry.key, entry.value))
            .collect();
        let mut tensors = HashMap::new();
        let graph = model.graph.unwrap_or_default();
        for tensor in graph.initializer {
            let name = tensor.name.clone();
            if let Some(values) = decode_tensor(&name, tensor, path)? {
                tensors.insert(name, values);
            }
        }
        for node in graph.node {
            if node.op_type != "Constant" {
                continue;
            }
            let (Some(output), Some(tensor)) = (
                node.output.into_iter().next(),
                node.attribute
                    .into_iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t),
            ) else {
                continue;
            };
            if let Some(values) = decode_tensor(&output, tensor, path)? {
                tensors.insert(output, values);
            }
        }
        Ok(Self {
            path: path.into(),
            tensors,
            metadata,
        })
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Result<&OnnxTensor, OcrError> {
        self.tensors.get(name).ok_or_else(|| OcrError::BadModel {
            path: self.path.clone(),
            problem: format!("no float or integer tensor named `{name}`"),
        })
    }
}

/// The tensor's values if it holds floats or integers (other types are not needed).
fn decode_tensor(
    name: &str,
    tensor: TensorProto,
    path: &Path,
) -> Result<Option<OnnxTensor>, OcrError> {
    let dims: Vec<usize> = tensor
        .dims
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .collect();
    let raw = &tensor.raw_data;
    let values = match tensor.data_type {
        ONNX_FLOAT if raw.is_empty() => Values::Float(tensor.float_data),
        ONNX_FLOAT => Values::Float(
            raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        ONNX_INT32 if raw.is_empty() => {
            Values::Int(tensor.int32_data.into_iter().map(i64::from).collect())
        }
        ONNX_INT32 => Values::Int(
            raw.chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
        ),
        ONNX_INT64 if raw.is_empty() => Values::Int(tensor.int64_data),
        ONNX_INT64 => Values::Int(
            raw.chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
        ),
        _ => return Ok(None),
    };
    let expected: usize = dims.iter().product();
    if values.len() != expected {
        return Err(OcrError::BadModel {
            path: path.into(),
            problem: format!(
                "tensor `{name}` has {} values for dims {dims:?}",
                values.len()
            ),
        });
    }
    Ok(Some(OnnxTensor { dims, values }))
}
