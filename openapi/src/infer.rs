//! `POST /v2/models/{model}/infer`: the Open Inference Protocol v2 JSON request and answer
//! (as Triton, KServe and MLServer define them), with one extension: an input the model's
//! config makes from media may be given as `media`, a URL, instead of `datatype`, `shape` and
//! `data`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// An inference request on tensors.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InferRequestBody {
    /// An id the answer echoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Request parameters, passed on to the server (booleans, integers and strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Map<String, Value>>,
    /// The inputs.
    pub inputs: Vec<InferInput>,
    /// The outputs wanted; all of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<RequestedOutput>>,
}

/// One input: a tensor (`datatype`, `shape`, `data`), or, for an input the model's config
/// makes from media (`[models.NAME.inputs.INPUT]`), `media`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InferInput {
    /// The model's input name.
    pub name: String,
    /// `BOOL`, `UINT8`..`UINT64`, `INT8`..`INT64`, `FP16`, `BF16`, `FP32`, `FP64` or `BYTES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "FP32")]
    pub datatype: Option<String>,
    /// The dimensions; a tensor one dimension short of the model's input gets a leading batch
    /// dimension of 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<u64>>,
    /// The elements in row-major order, flat or nested: booleans, numbers, or strings for
    /// `BYTES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub data: Option<Value>,
    /// A picture, sound or video (`data:`, `https:`, or `http:` URL) that the gateway decodes
    /// and normalizes into the tensor the model's config declares for this input (size,
    /// layout, mean and std, sample rate, datatype).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "data:image/jpeg;base64,/9j/4AAQ...")]
    pub media: Option<String>,
    /// Input parameters (ignored: the gateway sends tensors in the server's own encoding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Map<String, Value>>,
}

/// An output asked for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestedOutput {
    /// The model's output name.
    pub name: String,
    /// Output parameters (ignored: answers carry JSON arrays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Map<String, Value>>,
}

/// The model's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InferResponseBody {
    /// The model, by the name it was asked for here.
    pub model_name: String,
    /// The version that answered, if the server said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Parameters from the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Map<String, Value>>,
    /// The outputs.
    pub outputs: Vec<OutputTensor>,
}

/// One output tensor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutputTensor {
    /// Its name.
    pub name: String,
    /// Its element type.
    #[schema(example = "FP32")]
    pub datatype: String,
    /// Its dimensions.
    pub shape: Vec<u64>,
    /// The elements, flat, in row-major order.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
}
