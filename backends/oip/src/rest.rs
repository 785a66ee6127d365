//! The REST side: `/v2/health/*`, `/v2/models/{m}[/versions/{v}]` and its `infer`, with
//! tensors as JSON arrays, or raw bytes after the JSON header when the server announces the
//! binary-data extension (`binary_tensor_data` in `GET /v2`, as Triton does; MLServer does not).

use crate::Endpoint;
use crate::errors::{from_http, from_reqwest};
use bytes::Bytes;
use omnigate_backend::{
    BackendError, Datatype, InferRequest, InferResponse, JsonData, Signature, Tensor, TensorSpec,
    data_from_json, element_count,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicU8, Ordering};
use url::Url;

/// The binary-data extension's header: the length of the JSON part of a body.
const HEADER_LENGTH: &str = "inference-header-content-length";

/// Longest error body read from a server.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Whether the server takes binary tensor data: not asked yet, yes, no.
const BINARY_UNKNOWN: u8 = 0;
const BINARY_YES: u8 = 1;
const BINARY_NO: u8 = 2;

/// A v2 server over REST.
pub(crate) struct RestClient {
    http: reqwest::Client,
    headers: reqwest::header::HeaderMap,
    endpoint: Endpoint,
    server_url: Url,
    live_url: Url,
    model_url: Url,
    binary: AtomicU8,
}

impl RestClient {
    /// Builds the pooled client; no connection is opened yet.
    pub(crate) fn new(endpoint: Endpoint) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(endpoint.connect_timeout)
            .pool_max_idle_per_host(endpoint.connections.max(16))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("omnigate/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &endpoint.root_certificate {
            let certificate = reqwest::Certificate::from_pem(pem)
                .map_err(|e| format!("the root certificate is not PEM: {e}"))?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &endpoint.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a header name"))?;
            let mut value = reqwest::header::HeaderValue::from_str(value.expose_secret())
                .map_err(|_| format!("the value of header `{name}` is not visible ASCII"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let join = |segments: &[&str]| {
            let mut url = endpoint.url.clone();
            url.path_segments_mut()
                .map_err(|()| format!("`{}` cannot take a path", endpoint.url))?
                .pop_if_empty()
                .extend(segments);
            Ok::<Url, String>(url)
        };
        let model_url = match &endpoint.version {
            Some(version) => join(&["v2", "models", &endpoint.model, "versions", version])?,
            None => join(&["v2", "models", &endpoint.model])?,
        };
        Ok(Self {
            server_url: join(&["v2"])?,
            live_url: join(&["v2", "health", "live"])?,
            model_url,
            http,
            headers,
            endpoint,
            binary: AtomicU8::new(BINARY_UNKNOWN),
        })
    }

    /// `{model_url}/{tail}`.
    pub(crate) fn model_route(&self, tail: &str) -> Url {
        let mut url = self.model_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(tail);
        }
        url
    }

    /// Sends `request` with the configured headers; a non-2xx answer is an error.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, BackendError> {
        let timeout = self.endpoint.timeout;
        let mut response = request
            .headers(self.headers.clone())
            .send()
            .await
            .map_err(|e| from_reqwest(&e, timeout))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk[..chunk.len().min(MAX_ERROR_BODY - body.len())]);
            if body.len() >= MAX_ERROR_BODY {
                break;
            }
        }
        Err(from_http(status.as_u16(), &body))
    }

    /// A whole answer within the deadline.
    pub(crate) async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::header::HeaderMap, Bytes), BackendError> {
        let timeout = self.endpoint.timeout;
        let call = async {
            let response = self.send(request).await?;
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| from_reqwest(&e, timeout))?;
            Ok((headers, body))
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| BackendError::Timeout(timeout))?
    }

    /// The underlying client, for the generate extension's requests.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Whether the server is live and the model ready.
    pub(crate) async fn health(&self) -> Result<(), BackendError> {
        self.call(self.http.get(self.live_url.clone())).await?;
        self.call(self.http.get(self.model_route("ready")))
            .await
            .map_err(|e| match e {
                BackendError::Upstream { message, .. } | BackendError::Rejected { message, .. } => {
                    BackendError::Unavailable(format!(
                        "model `{}` is not ready on the v2 server: {message}",
                        self.endpoint.model
                    ))
                }
                other => other,
            })?;
        Ok(())
    }

    /// The model's metadata (and, the first time, whether the server takes binary data).
    pub(crate) async fn metadata(&self) -> Result<Signature, BackendError> {
        #[derive(Deserialize)]
        struct Metadata {
            #[serde(default)]
            inputs: Vec<Spec>,
            #[serde(default)]
            outputs: Vec<Spec>,
        }
        #[derive(Deserialize)]
        struct Spec {
            name: String,
            datatype: String,
            shape: Vec<i64>,
        }
        if self.binary.load(Ordering::Relaxed) == BINARY_UNKNOWN {
            let binary = match self.call(self.http.get(self.server_url.clone())).await {
                Ok((_, body)) => serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["extensions"].as_array().cloned())
                    .is_some_and(|e| e.iter().any(|x| x == "binary_tensor_data")),
                Err(_) => false,
            };
            self.binary.store(
                if binary { BINARY_YES } else { BINARY_NO },
                Ordering::Relaxed,
            );
        }
        let (_, body) = self.call(self.http.get(self.model_url.clone())).await?;
        let metadata: Metadata = serde_json::from_slice(&body).map_err(|e| {
            BackendError::BadResponse(format!("the model's metadata is not v2 JSON: {e}"))
        })?;
        let spec = |s: Spec| {
            let datatype = Datatype::parse(&s.datatype).ok_or_else(|| {
                BackendError::BadResponse(format!(
                    "the model's tensor `{}` has an unknown datatype `{}`",
                    s.name, s.datatype
                ))
            })?;
            Ok(TensorSpec {
                name: s.name,
                datatype,
                shape: s.shape,
            })
        };
        Ok(Signature {
            inputs: metadata
                .inputs
                .into_iter()
                .map(spec)
                .collect::<Result<_, _>>()?,
            outputs: metadata
                .outputs
                .into_iter()
                .map(spec)
                .collect::<Result<_, _>>()?,
        })
    }

    /// One inference; the inputs were checked against the model's metadata.
    pub(crate) async fn infer(&self, request: InferRequest) -> Result<InferResponse, BackendError> {
        let binary = self.binary.load(Ordering::Relaxed) == BINARY_YES;
        let body = request_body(&request, binary)?;
        let mut builder = self
            .http
            .post(self.model_route("infer"))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(json_length) = body.json_length {
            builder = builder
                .header(HEADER_LENGTH, json_length)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
        }
        let (headers, bytes) = self.call(builder.body(body.bytes)).await?;
        let json_length = headers
            .get(HEADER_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        response_in(&bytes, json_length)
    }
}

/// A request body, and the length of its JSON part when raw tensor bytes follow it.
pub(crate) struct Body {
    pub(crate) bytes: Vec<u8>,
    json_length: Option<usize>,
}

#[derive(Serialize)]
struct JsonRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    parameters: Map<String, Value>,
    inputs: Vec<JsonInput<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    outputs: Vec<Value>,
}

#[derive(Serialize)]
struct JsonInput<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: &'a [u64],
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<JsonData<'a>>,
}

/// The v2 JSON request for `request`; with `binary`, the tensors follow the JSON as raw bytes.
pub(crate) fn request_body(request: &InferRequest, binary: bool) -> Result<Body, BackendError> {
    let mut parameters = request.parameters.clone();
    let outputs = request
        .outputs
        .iter()
        .map(|name| match binary {
            true => json!({"name": name, "parameters": {"binary_data": true}}),
            false => json!({"name": name}),
        })
        .collect::<Vec<_>>();
    if binary && outputs.is_empty() {
        parameters.insert("binary_data_output".to_owned(), Value::Bool(true));
    }
    let json = JsonRequest {
        id: request.id.as_deref(),
        parameters,
        inputs: request
            .inputs
            .iter()
            .map(|t| JsonInput {
                name: &t.name,
                datatype: t.datatype.as_str(),
                shape: &t.shape,
                parameters: binary.then(|| json!({"binary_data_size": t.data.len()})),
                data: (!binary).then_some(JsonData(t)),
            })
            .collect(),
        outputs,
    };
    let mut bytes = serde_json::to_vec(&json)
        .map_err(|e| BackendError::Internal(format!("cannot write the v2 request: {e}")))?;
    if !binary {
        return Ok(Body {
            bytes,
            json_length: None,
        });
    }
    let json_length = bytes.len();
    for tensor in &request.inputs {
        bytes.extend_from_slice(&tensor.data);
    }
    Ok(Body {
        bytes,
        json_length: Some(json_length),
    })
}

#[derive(Deserialize)]
pub(crate) struct JsonResponse {
    #[serde(default)]
    pub(crate) model_name: String,
    #[serde(default)]
    pub(crate) model_version: Option<String>,
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) parameters: Option<Map<String, Value>>,
    #[serde(default)]
    pub(crate) outputs: Vec<JsonOutput>,
}

#[derive(Deserialize)]
pub(crate) struct JsonOutput {
    name: String,
    datatype: String,
    shape: Vec<i64>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    data: Option<Value>,
}

/// A v2 JSON answer (raw output bytes after `json_length` bytes of JSON, if given).
pub(crate) fn response_in(
    body: &[u8],
    json_length: Option<usize>,
) -> Result<InferResponse, BackendError> {
    let bad = |what: String| BackendError::BadResponse(format!("v2 server answer: {what}"));
    let (json, mut raw) = match json_length {
        Some(n) if n <= body.len() => body.split_at(n),
        Some(n) => {
            return Err(bad(format!(
                "a JSON header of {n} bytes in a {}-byte body",
                body.len()
            )));
        }
        None => (body, &[][..]),
    };
    let response: JsonResponse =
        serde_json::from_slice(json).map_err(|e| bad(format!("not v2 JSON: {e}")))?;
    let mut outputs = Vec::with_capacity(response.outputs.len());
    for output in response.outputs {
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
        let binary_size = output
            .parameters
            .as_ref()
            .and_then(|p| p.get("binary_data_size"))
            .and_then(Value::as_u64);
        let data = match (binary_size, &output.data) {
            (Some(size), _) => {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if size > raw.len() {
                    return Err(bad(format!(
                        "output `{}`'s binary data is cut off",
                        output.name
                    )));
                }
                let (mine, rest) = raw.split_at(size);
                raw = rest;
                Bytes::copy_from_slice(mine)
            }
            (None, Some(data)) => {
                let count = element_count(&shape)
                    .ok_or_else(|| bad(format!("output `{}` is too large", output.name)))?;
                data_from_json(datatype, data, count)
                    .map_err(|e| bad(format!("output `{}`: {e}", output.name)))?
            }
            (None, None) => return Err(bad(format!("output `{}` has no data", output.name))),
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
        model_version: response.model_version,
        id: response.id,
        outputs,
        parameters: response.parameters.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> InferRequest {
        InferRequest {
            model: "m".into(),
            id: Some("r1".into()),
            inputs: vec![
                Tensor::from_f32("x", vec![2], &[0.5, -1.0]),
                Tensor::from_strings("s", vec![1], &["hé"]).unwrap(),
            ],
            outputs: vec!["y".into()],
            parameters: Map::new(),
        }
    }

    #[test]
    fn json_requests_carry_the_elements_as_arrays() {
        let body = request_body(&request(), false).unwrap();
        let json: Value = serde_json::from_slice(&body.bytes).unwrap();
        assert_eq!(json["inputs"][0]["data"], json!([0.5, -1.0]));
        assert_eq!(json["inputs"][1]["data"], json!(["hé"]));
        assert_eq!(json["outputs"], json!([{"name": "y"}]));
        assert_eq!(json["id"], "r1");
    }

    #[test]
    fn binary_requests_put_the_raw_bytes_after_the_json() {
        let request = request();
        let body = request_body(&request, true).unwrap();
        let n = body.json_length.unwrap();
        let json: Value = serde_json::from_slice(&body.bytes[..n]).unwrap();
        assert_eq!(json["inputs"][0]["parameters"]["binary_data_size"], 8);
        assert!(json["inputs"][0].get("data").is_none());
        assert_eq!(json["outputs"][0]["parameters"]["binary_data"], true);
        let tail = [&request.inputs[0].data[..], &request.inputs[1].data[..]].concat();
        assert_eq!(&body.bytes[n..], &tail[..]);
    }

    #[test]
    fn answers_are_read_as_json_or_binary() {
        let json = br#"{"model_name":"m","model_version":null,"outputs":[
            {"name":"y","datatype":"INT32","shape":[2,1],"data":[[3],[-4]]}]}"#;
        let response = response_in(json, None).unwrap();
        assert_eq!(response.outputs[0].to_f64s().unwrap(), [3.0, -4.0]);
        assert_eq!(response.outputs[0].shape, [2, 1]);

        let header = br#"{"model_name":"m","outputs":[{"name":"y","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]}"#;
        let mut body = header.to_vec();
        body.extend_from_slice(&2.5f32.to_le_bytes());
        let response = response_in(&body, Some(header.len())).unwrap();
        assert_eq!(response.outputs[0].to_f64s().unwrap(), [2.5]);

        let short = br#"{"model_name":"m","outputs":[{"name":"y","datatype":"FP32","shape":[3],"data":[1,2]}]}"#;
        assert!(matches!(
            response_in(short, None),
            Err(BackendError::BadResponse(_))
        ));
    }
}
