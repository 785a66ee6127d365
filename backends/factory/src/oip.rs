//! `kind = "oip"`: a model on an Open Inference Protocol v2 server. The model's config is
//! turned into what the backend checks the server's metadata against: the tensors its media
//! inputs will be (from its `inputs` table and its image, audio and video contracts) and, when
//! it serves embeddings, which tensors carry texts and vectors.

use std::sync::Arc;
use std::time::Duration;

use omnigate_backend::{BuildError, Capabilities, Datatype, Task};
use omnigate_backend_oip::{
    ConnectError, Contract, Dialect, EmbeddingTensors, Endpoint, Generate, MediaInput, OipBackend,
    OipSettings, Protocol,
};
use omnigate_config::{
    GenerateDialect, ModelConfig, OipDeployment, OipProtocol, TensorLayout, TensorMedia,
};
use omnigate_media::{ChannelMode, ImageOutput};

use crate::{BuildContext, Built, Location};

/// Builds the backend and checks the server's model against the config (a server that does
/// not answer yet is checked when it does).
pub(crate) async fn build(
    at: &Location<'_>,
    declared: &Capabilities,
    model: &ModelConfig,
    deployment: &OipDeployment,
    context: &BuildContext<'_>,
) -> Result<Built, BuildError> {
    if declared.serves(Task::Chat) && deployment.generate.is_none() {
        return Err(at.field_error(
            "generate",
            "the model declares chat: set `generate` (\"triton\" or \"infer\") for a server with the generate extension",
        ));
    }
    let headers = deployment
        .headers
        .iter()
        .map(|(name, value)| {
            let secret = value
                .resolve(&format!("{}.headers.{name}", at.key))
                .map_err(|e| at.error(e.to_string()))?;
            Ok((name.clone(), secret.into_inner()))
        })
        .collect::<Result<Vec<_>, BuildError>>()?;
    let root_certificate = match &deployment.root_certificate {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            at.field_error(
                "root_certificate",
                format!("cannot read {}: {e}", path.display()),
            )
        })?),
        None => None,
    };
    let upstream_model = deployment
        .model
        .clone()
        .unwrap_or_else(|| at.model.to_owned());
    let settings = OipSettings {
        endpoint: Endpoint {
            url: deployment.url.clone(),
            protocol: match deployment.protocol {
                OipProtocol::Grpc => Protocol::Grpc,
                OipProtocol::Http => Protocol::Http,
            },
            model: upstream_model.clone(),
            version: deployment.model_version.clone(),
            timeout: Duration::from_secs_f64(deployment.timeout_secs),
            connect_timeout: Duration::from_secs_f64(deployment.connect_timeout_secs),
            connections: deployment.connections,
            headers,
            root_certificate,
        },
        contract: Contract {
            deployment_key: at.key.clone(),
            media_inputs: media_inputs(at, model, context)?,
            embedding: declared.serves(Task::Embeddings).then(|| EmbeddingTensors {
                input: deployment.embedding_input.clone(),
                output: deployment.embedding_output.clone(),
            }),
        },
        generate: deployment.generate.map(|dialect| Generate {
            dialect: match dialect {
                GenerateDialect::Triton => Dialect::Triton,
                GenerateDialect::Infer => Dialect::Infer,
            },
            input: deployment.generate_input.clone(),
            output: deployment.generate_output.clone(),
        }),
    };
    let backend = OipBackend::connect(settings).await.map_err(|e| match e {
        ConnectError::Mismatch(mismatch) => BuildError::new(mismatch.key, mismatch.message),
        ConnectError::Setup(message) => at.error(message),
    })?;
    Ok(Built {
        backend: Arc::new(backend),
        upstream_model,
    })
}

/// The tensor each of the model's media inputs will be, without a batch dimension.
fn media_inputs(
    at: &Location<'_>,
    model: &ModelConfig,
    context: &BuildContext<'_>,
) -> Result<Vec<MediaInput>, BuildError> {
    let model_key = format!("models.{}", at.model);
    let mut inputs = Vec::with_capacity(model.inputs.len());
    for (name, input) in &model.inputs {
        let key = format!("{model_key}.inputs.{name}");
        let datatype = input
            .datatype
            .as_deref()
            .map_or(Some(Datatype::Fp32), Datatype::parse)
            .ok_or_else(|| BuildError::new(format!("{key}.datatype"), "not a v2 datatype"))?;
        let picture = || match &context.image.output {
            ImageOutput::Tensor { size: (w, h), .. } => {
                let (w, h) = (i64::from(*w), i64::from(*h));
                Ok(match input.layout.unwrap_or(TensorLayout::Nchw) {
                    TensorLayout::Nchw => vec![3, h, w],
                    TensorLayout::Nhwc => vec![h, w, 3],
                })
            }
            _ => Err(BuildError::new(
                format!("{model_key}.image.output"),
                format!("must be \"tensor\" for `{key}` to be made from pictures"),
            )),
        };
        let (shape, shape_key) = match input.media {
            TensorMedia::Image => (picture()?, format!("{model_key}.image.tensor_size")),
            TensorMedia::Video => {
                let frame = picture()?;
                let shape = std::iter::once(-1).chain(frame).collect();
                (shape, format!("{model_key}.image.tensor_size"))
            }
            TensorMedia::Audio => {
                let shape = match context.audio.channels {
                    ChannelMode::Mono => vec![-1],
                    ChannelMode::Keep => vec![-1, -1],
                };
                (shape, format!("{model_key}.audio.channels"))
            }
        };
        inputs.push(MediaInput {
            name: name.clone(),
            key,
            datatype,
            shape,
            shape_key,
        });
    }
    Ok(inputs)
}
