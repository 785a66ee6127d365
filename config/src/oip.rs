//! Open Inference Protocol v2 servers (Triton, KServe, MLServer, OpenVINO Model Server):
//! `kind = "oip"` deployments, and a model's tensor contract (`[models.NAME.inputs.INPUT]`:
//! which of its v2 inputs the gateway makes from media or text, and how).

use crate::ConfigError;
use crate::secret::SecretRef;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use url::Url;

/// A model on a v2 inference server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OipDeployment {
    /// The server: `http://host:port` (or `https://` for TLS), its gRPC port or its REST port
    /// as `protocol` says. A path on a REST URL is kept as a prefix (`/v2/...` follows it).
    pub url: Url,
    /// `grpc` (`inference.GRPCInferenceService`, tensors as raw bytes) or `http` (REST; JSON,
    /// with the binary-data extension where the server announces it).
    pub protocol: OipProtocol,
    /// The model's name on the server; defaults to the public name.
    #[serde(default)]
    pub model: Option<String>,
    /// The model's version on the server; unset: the server's default.
    #[serde(default)]
    pub model_version: Option<String>,
    /// Whole-call deadline (for a generate stream: the longest wait for the head or the next
    /// event).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
    /// Deadline for opening a connection.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: f64,
    /// HTTP/2 connections that concurrent requests share (spread round-robin). v2 servers
    /// batch on their side, so the gateway adds no batching of its own.
    #[serde(default = "default_connections")]
    pub connections: usize,
    /// Headers sent with every call (gRPC metadata on `grpc`), e.g. an API key as
    /// `env::NAME`; their values are never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretRef>,
    /// A CA certificate (PEM) to trust for an `https://` server, besides the system's roots.
    #[serde(default)]
    pub root_certificate: Option<PathBuf>,
    /// For `/v1/embeddings`: the BYTES input that takes the texts, or the input the model's
    /// `inputs` make from media (pictures for a CLIP-style encoder); unset: the model's only
    /// BYTES input, else its only input made from media.
    #[serde(default)]
    pub embedding_input: Option<String>,
    /// For `/v1/embeddings`: the output holding one vector per text; unset: the model's only
    /// output.
    #[serde(default)]
    pub embedding_output: Option<String>,
    /// Chat through the generate extension (`/v2/models/{m}/generate` and `generate_stream`;
    /// REST only): `triton` (Triton's, for its TensorRT-LLM and vLLM backends: the prompt as
    /// `text_input` in a flat JSON object) or `infer` (the same endpoints taking a v2 inference
    /// request, as MLServer's do). Unset: no chat.
    #[serde(default)]
    pub generate: Option<GenerateDialect>,
    /// The generate extension's prompt input (default `text_input`).
    #[serde(default = "default_generate_input")]
    pub generate_input: String,
    /// The generate extension's text output (default `text_output`).
    #[serde(default = "default_generate_output")]
    pub generate_output: String,
    /// What `x-omnigate-deployment` and the deployments view call it.
    #[serde(default)]
    pub name: Option<String>,
    /// Share of requests (see `DeploymentConfig::weight`).
    #[serde(default = "crate::model::default_weight")]
    pub weight: u32,
    /// Most requests in flight to it at once.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Probe it actively this often (seconds): server liveness and the model's readiness.
    #[serde(default)]
    pub health_interval_secs: Option<f64>,
}

/// How a v2 server is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OipProtocol {
    /// gRPC over HTTP/2.
    Grpc,
    /// REST over HTTP/1.1 or HTTP/2.
    Http,
}

/// Which request shape a server's generate endpoints take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerateDialect {
    /// Triton's generate extension: `{"text_input": ..., "parameters": {...}}` in, the outputs
    /// as top-level keys out; streamed as SSE events of the same objects.
    Triton,
    /// A v2 inference request in, a v2 inference response out (MLServer).
    Infer,
}

fn default_timeout_secs() -> f64 {
    60.0
}

fn default_connect_timeout_secs() -> f64 {
    5.0
}

fn default_connections() -> usize {
    1
}

fn default_generate_input() -> String {
    "text_input".to_owned()
}

fn default_generate_output() -> String {
    "text_output".to_owned()
}

/// How the gateway makes one of a model's v2 inputs (`[models.NAME.inputs.INPUT]`): a client
/// of `POST /v2/models/{m}/infer` may then give that input as a media URL (`data:` or fetched),
/// which is decoded and normalized by the model's `image`, `audio` or `video` contract into
/// exactly this tensor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorInput {
    /// What the input is made from.
    pub media: TensorMedia,
    /// The element type sent: `FP32` (default), `FP16` or `FP64` (pictures, sound, video).
    #[serde(default)]
    pub datatype: Option<String>,
    /// Pictures and video frames: `nchw` (default; planes of R, G, B) or `nhwc` (pixels of
    /// R, G, B). The batch dimension is there when the server's input has it.
    #[serde(default)]
    pub layout: Option<TensorLayout>,
}

/// What a tensor input is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorMedia {
    /// One picture: `[3, H, W]` (or `[H, W, 3]`) by the model's `image` contract, which must
    /// have `output = "tensor"`.
    Image,
    /// One sound: `[samples]` mono (or `[samples, channels]` with `channels = "keep"`) at the
    /// model's `audio.sample_rate`.
    Audio,
    /// A video's sampled frames: `[frames, 3, H, W]` (or `[frames, H, W, 3]`).
    Video,
}

/// Where the channels of a picture tensor go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorLayout {
    /// Channel planes first.
    Nchw,
    /// Channels last.
    Nhwc,
}

/// The datatypes a media input may be sent as.
pub const MEDIA_DATATYPES: [&str; 3] = ["FP32", "FP16", "FP64"];

impl OipDeployment {
    /// Checks the settings; `key` names the deployment in errors.
    pub(crate) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !matches!(self.url.scheme(), "http" | "https")
            || self.url.host_str().is_none_or(str::is_empty)
        {
            return Err(ConfigError::invalid(
                format!("{key}.url"),
                format!("`{}` is not an http(s) URL with a host", self.url),
            ));
        }
        if self.protocol == OipProtocol::Grpc && !self.url.path().trim_matches('/').is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.url"),
                "a gRPC server is reached at its root: drop the path",
            ));
        }
        for (field, value) in [
            ("model", &self.model),
            ("model_version", &self.model_version),
            ("embedding_input", &self.embedding_input),
            ("embedding_output", &self.embedding_output),
        ] {
            if value.as_deref().is_some_and(str::is_empty) {
                return Err(ConfigError::invalid(
                    format!("{key}.{field}"),
                    "must not be empty (leave it out for the default)",
                ));
            }
        }
        if self.connections == 0 || self.connections > 64 {
            return Err(ConfigError::invalid(
                format!("{key}.connections"),
                "must be within 1..=64",
            ));
        }
        if self.generate.is_some() && self.protocol == OipProtocol::Grpc {
            return Err(ConfigError::invalid(
                format!("{key}.generate"),
                "the generate extension is REST only: set `protocol = \"http\"`",
            ));
        }
        for (name, value) in &self.headers {
            let header = format!("{key}.headers.{name}");
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !valid {
                return Err(ConfigError::invalid(
                    header,
                    "a header name is letters, digits, `-` and `_`",
                ));
            }
            value.resolve(&header)?;
        }
        crate::validate::check_seconds(&format!("{key}.timeout_secs"), self.timeout_secs)?;
        crate::validate::check_seconds(
            &format!("{key}.connect_timeout_secs"),
            self.connect_timeout_secs,
        )
    }
}

/// Checks a model's `inputs` table (`key` is `models.NAME.inputs`).
pub(crate) fn validate_inputs(
    key: &str,
    inputs: &BTreeMap<String, TensorInput>,
) -> Result<(), ConfigError> {
    for (name, input) in inputs {
        let at = format!("{key}.{name}");
        if let Some(datatype) = &input.datatype
            && !MEDIA_DATATYPES.contains(&datatype.as_str())
        {
            return Err(ConfigError::invalid(
                format!("{at}.datatype"),
                format!(
                    "`{datatype}` cannot hold media: use one of {}",
                    MEDIA_DATATYPES.join(", ")
                ),
            ));
        }
        if input.layout.is_some() && input.media == TensorMedia::Audio {
            return Err(ConfigError::invalid(
                format!("{at}.layout"),
                "only pictures and video frames have a layout",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{DeploymentConfig, load_str};

    fn load(deployment: &str, model_extra: &str) -> Result<crate::Config, crate::ConfigError> {
        let toml = format!(
            "[models.m]\ntasks = [\"infer\"]\n{model_extra}\n[[models.m.deployments]]\nkind = \"oip\"\n{deployment}\n"
        );
        load_str(&toml, "test")
    }

    fn invalid_key(deployment: &str, model_extra: &str) -> String {
        match load(deployment, model_extra) {
            Err(crate::ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn a_full_deployment_parses_with_its_defaults() {
        let config = load(
            "url = \"http://127.0.0.1:8001\"\nprotocol = \"grpc\"\nmodel = \"clip\"\nheaders = { x-api-key = \"k\" }",
            "[models.m.inputs.pixel_values]\nmedia = \"image\"\nlayout = \"nhwc\"\ndatatype = \"FP16\"",
        )
        .unwrap();
        let model = &config.models["m"];
        let DeploymentConfig::Oip(oip) = &model.deployments[0] else {
            panic!("not an oip deployment");
        };
        assert_eq!(oip.protocol, super::OipProtocol::Grpc);
        assert_eq!((oip.connections, oip.timeout_secs), (1, 60.0));
        assert_eq!(oip.generate_input, "text_input");
        let input = &model.inputs["pixel_values"];
        assert_eq!(input.media, super::TensorMedia::Image);
        assert_eq!(input.layout, Some(super::TensorLayout::Nhwc));
        assert!(model.deployments[0].serves_like(&model.deployments[0].clone()));
    }

    #[test]
    fn bad_settings_are_refused_naming_the_key() {
        let at = "models.m.deployments[0]";
        let grpc = "url = \"http://h:1\"\nprotocol = \"grpc\"";
        assert_eq!(
            invalid_key("url = \"ftp://h:1\"\nprotocol = \"http\"", ""),
            format!("{at}.url")
        );
        assert_eq!(
            invalid_key("url = \"http://h:1/v2\"\nprotocol = \"grpc\"", ""),
            format!("{at}.url")
        );
        assert_eq!(
            invalid_key(&format!("{grpc}\ngenerate = \"triton\""), ""),
            format!("{at}.generate")
        );
        assert_eq!(
            invalid_key(&format!("{grpc}\nconnections = 0"), ""),
            format!("{at}.connections")
        );
        assert_eq!(
            invalid_key(&format!("{grpc}\nheaders = {{ \"a b\" = \"v\" }}"), ""),
            format!("{at}.headers.a b")
        );
        assert_eq!(
            invalid_key(&format!("{grpc}\ntimeout_secs = 0"), ""),
            format!("{at}.timeout_secs")
        );
        assert_eq!(
            invalid_key(
                grpc,
                "[models.m.inputs.x]\nmedia = \"image\"\ndatatype = \"INT8\""
            ),
            "models.m.inputs.x.datatype"
        );
        assert_eq!(
            invalid_key(
                grpc,
                "[models.m.inputs.x]\nmedia = \"audio\"\nlayout = \"nchw\""
            ),
            "models.m.inputs.x.layout"
        );
        assert!(load(&format!("{grpc}\nprotocol_x = 1"), "").is_err());
    }
}
