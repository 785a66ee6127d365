//! The gRPC side: `inference.GRPCInferenceService` over `connections` HTTP/2 channels that
//! concurrent calls share (each channel multiplexes its calls as HTTP/2 streams). Tensor data
//! travels in `raw_input_contents` / `raw_output_contents` as the binary layout it is held in,
//! so no element is converted on the way.

use crate::Endpoint;
use crate::errors::from_status;
use crate::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use crate::proto::infer_parameter::ParameterChoice;
use crate::proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use crate::proto::{
    InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse,
    ModelMetadataRequest, ModelReadyRequest, ServerLiveRequest,
};
use bytes::Bytes;
use omnigate_backend::{
    BackendError, Datatype, InferRequest, InferResponse, Signature, Tensor, TensorSpec,
};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

/// Largest message either way: a batch of 4K pictures as FP32 is ~200 MB; tonic's default of
/// 4 MB would refuse a handful of 512² ones.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// A v2 server over gRPC.
pub(crate) struct GrpcClient {
    channels: Vec<Channel>,
    next: AtomicUsize,
    headers: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
    endpoint: Endpoint,
}

impl GrpcClient {
    /// Builds the channels; none connects until the first call.
    pub(crate) fn new(endpoint: Endpoint) -> Result<Self, String> {
        let uri = endpoint.url.as_str().trim_end_matches('/').to_owned();
        let mut builder = tonic::transport::Endpoint::from_shared(uri)
            .map_err(|e| format!("`{}` is not a gRPC endpoint: {e}", endpoint.url))?
            .connect_timeout(endpoint.connect_timeout)
            .tcp_nodelay(true)
            // Notice a server that vanished without closing the connection.
            .http2_keep_alive_interval(std::time::Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if endpoint.url.scheme() == "https" {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(pem) = &endpoint.root_certificate {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            builder = builder
                .tls_config(tls)
                .map_err(|e| format!("TLS setup failed: {e}"))?;
        }
        let channels = (0..endpoint.connections.max(1))
            .map(|_| builder.connect_lazy())
            .collect();
        let headers = endpoint
            .headers
            .iter()
            .map(|(name, value)| {
                let key = AsciiMetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .map_err(|_| format!("`{name}` is not a gRPC metadata key"))?;
                let mut value = AsciiMetadataValue::try_from(value.expose_secret())
                    .map_err(|_| format!("the value of header `{name}` is not visible ASCII"))?;
                value.set_sensitive(true);
                Ok((key, value))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            channels,
            next: AtomicUsize::new(0),
            headers,
            endpoint,
        })
    }

    /// A client on the next channel, round-robin.
    fn client(&self) -> GrpcInferenceServiceClient<Channel> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        GrpcInferenceServiceClient::new(self.channels[i].clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// `message` with the configured headers, within the deadline.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.endpoint.timeout);
        let metadata = request.metadata_mut();
        for (key, value) in &self.headers {
            metadata.insert(key.clone(), value.clone());
        }
        request
    }

    fn error(&self, status: &tonic::Status) -> BackendError {
        from_status(status, self.endpoint.timeout)
    }

    /// Whether the server is live and the model ready.
    pub(crate) async fn health(&self) -> Result<(), BackendError> {
        let live = self
            .client()
            .server_live(self.request(ServerLiveRequest {}))
            .await
            .map_err(|s| self.error(&s))?;
        if !live.get_ref().live {
            return Err(BackendError::Unavailable(
                "the v2 server is not live".into(),
            ));
        }
        let ready = self
            .client()
            .model_ready(self.request(ModelReadyRequest {
                name: self.endpoint.model.clone(),
                version: self.endpoint.version.clone().unwrap_or_default(),
            }))
            .await
            .map_err(|s| self.error(&s))?;
        if ready.get_ref().ready {
            Ok(())
        } else {
            Err(BackendError::Unavailable(format!(
                "model `{}` is not ready on the v2 server",
                self.endpoint.model
            )))
        }
    }

    /// The model's metadata.
    pub(crate) async fn metadata(&self) -> Result<Signature, BackendError> {
        let response = self
            .client()
            .model_metadata(self.request(ModelMetadataRequest {
                name: self.endpoint.model.clone(),
                version: self.endpoint.version.clone().unwrap_or_default(),
            }))
            .await
            .map_err(|s| self.error(&s))?
            .into_inner();
        let spec = |t: crate::proto::model_metadata_response::TensorMetadata| {
            let datatype = Datatype::parse(&t.datatype).ok_or_else(|| {
                BackendError::BadResponse(format!(
                    "the model's tensor `{}` has an unknown datatype `{}`",
                    t.name, t.datatype
                ))
            })?;
            Ok(TensorSpec {
                name: t.name,
                datatype,
                shape: t.shape,
            })
        };
        Ok(Signature {
            inputs: response
                .inputs
                .into_iter()
                .map(spec)
                .collect::<Result<_, _>>()?,
            outputs: response
                .outputs
                .into_iter()
                .map(spec)
                .collect::<Result<_, _>>()?,
        })
    }

    /// One inference; the inputs were checked against the model's metadata.
    pub(crate) async fn infer(&self, request: InferRequest) -> Result<InferResponse, BackendError> {
        let message = ModelInferRequest {
            model_name: self.endpoint.model.clone(),
            model_version: self.endpoint.version.clone().unwrap_or_default(),
            id: request.id.unwrap_or_default(),
            parameters: parameters_out(&request.parameters)?,
            inputs: request
                .inputs
                .iter()
                .map(|t| InferInputTensor {
                    name: t.name.clone(),
                    datatype: t.datatype.as_str().to_owned(),
                    shape: t.shape.iter().map(|d| *d as i64).collect(),
                    parameters: HashMap::new(),
                    contents: None,
                })
                .collect(),
            outputs: request
                .outputs
                .into_iter()
                .map(|name| InferRequestedOutputTensor {
                    name,
                    parameters: HashMap::new(),
                })
                .collect(),
            raw_input_contents: request.inputs.into_iter().map(|t| t.data).collect(),
        };
        let response = self
            .client()
            .model_infer(self.request(message))
            .await
            .map_err(|s| self.error(&s))?;
        response_in(response.into_inner())
    }
}

/// Request parameters as the protocol's typed values (booleans, integers, strings).
fn parameters_out(
    parameters: &Map<String, Value>,
) -> Result<HashMap<String, InferParameter>, BackendError> {
    parameters
        .iter()
        .map(|(key, value)| {
            let choice = match value {
                Value::Bool(b) => ParameterChoice::BoolParam(*b),
                Value::String(s) => ParameterChoice::StringParam(s.clone()),
                Value::Number(n) if n.as_i64().is_some() => {
                    ParameterChoice::Int64Param(n.as_i64().unwrap_or_default())
                }
                _ => {
                    return Err(BackendError::Rejected {
                        status: 400,
                        message: format!(
                            "parameter `{key}` must be a boolean, an integer or a string for a gRPC server"
                        ),
                        param: Some(format!("parameters.{key}")),
                    });
                }
            };
            Ok((key.clone(), InferParameter { parameter_choice: Some(choice) }))
        })
        .collect()
}

fn response_in(response: ModelInferResponse) -> Result<InferResponse, BackendError> {
    let bad = |what: String| BackendError::BadResponse(format!("v2 server answer: {what}"));
    let raw = response.raw_output_contents;
    if !raw.is_empty() && raw.len() != response.outputs.len() {
        return Err(bad(format!(
            "{} outputs but {} raw contents",
            response.outputs.len(),
            raw.len()
        )));
    }
    let mut outputs = Vec::with_capacity(response.outputs.len());
    for (i, output) in response.outputs.into_iter().enumerate() {
        let datatype = Datatype::parse(&output.datatype).ok_or_else(|| {
            bad(format!(
                "output `{}` has datatype `{}`",
                output.name, output.datatype
            ))
        })?;
        let shape = output
            .shape
            .iter()
            .map(|d| u64::try_from(*d))
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| {
                bad(format!(
                    "output `{}` has shape {:?}",
                    output.name, output.shape
                ))
            })?;
        let data = match raw.get(i) {
            Some(bytes) => bytes.clone(),
            None => typed_contents(datatype, output.contents.unwrap_or_default()),
        };
        let tensor = Tensor {
            name: output.name,
            datatype,
            shape,
            data,
        };
        tensor
            .check()
            .map_err(|e| bad(format!("output `{}`: {e}", tensor.name)))?;
        outputs.push(tensor);
    }
    Ok(InferResponse {
        model_name: response.model_name,
        model_version: Some(response.model_version).filter(|v| !v.is_empty()),
        id: Some(response.id).filter(|v| !v.is_empty()),
        outputs,
        parameters: response
            .parameters
            .into_iter()
            .filter_map(|(k, p)| {
                let value = match p.parameter_choice? {
                    ParameterChoice::BoolParam(b) => Value::from(b),
                    ParameterChoice::Int64Param(n) => Value::from(n),
                    ParameterChoice::StringParam(s) => Value::from(s),
                };
                Some((k, value))
            })
            .collect(),
    })
}

/// Outputs a server wrote as typed repeated fields instead of raw bytes, in the binary layout.
fn typed_contents(datatype: Datatype, c: InferTensorContents) -> Bytes {
    let mut out = Vec::new();
    match datatype {
        Datatype::Bool => out.extend(c.bool_contents.iter().map(|b| u8::from(*b))),
        Datatype::Int8 => out.extend(c.int_contents.iter().map(|v| *v as i8 as u8)),
        Datatype::Int16 => c
            .int_contents
            .iter()
            .for_each(|v| out.extend_from_slice(&(*v as i16).to_le_bytes())),
        Datatype::Int32 => c
            .int_contents
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Datatype::Int64 => c
            .int64_contents
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Datatype::Uint8 => out.extend(c.uint_contents.iter().map(|v| *v as u8)),
        Datatype::Uint16 => c
            .uint_contents
            .iter()
            .for_each(|v| out.extend_from_slice(&(*v as u16).to_le_bytes())),
        Datatype::Uint32 => c
            .uint_contents
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Datatype::Uint64 => c
            .uint64_contents
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Datatype::Fp32 => c
            .fp32_contents
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Datatype::Fp64 => c
            .fp64_contents
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        // The protocol has no typed field for half floats: they only travel raw.
        Datatype::Fp16 | Datatype::Bf16 => {}
        Datatype::Bytes => c.bytes_contents.iter().for_each(|b| {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }),
    }
    out.into()
}
