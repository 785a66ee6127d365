//! `POST /v2/models/{model}/infer`: typed tensors in and out (Open Inference Protocol v2 JSON),
//! for models served by v2 servers. Tensors are checked here (datatype, shape against data,
//! each element's type and range) and media inputs normalized into the tensor the model's
//! config declares; the backend then checks them against the model's own metadata. Nothing is
//! sent upstream before all of that passes, and a refusal names the input (`inputs[i]`).

use crate::dispatch::{self, Hedging, RequestDeadline};
use crate::error::ApiError;
use crate::exchange;
use crate::extract::ApiJson;
use crate::media::tensors::{self, MediaInput};
use crate::routes::docs::PostErrors;
use crate::state::AppState;
use crate::tenancy::admission::{self, Caller};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use omnigate_backend::{
    Datatype, InferRequest, InferResponse, JsonData, Task, Tensor, data_from_json, element_count,
};
use omnigate_openapi::{InferInput, InferRequestBody, InferResponseBody};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Most inputs in one request.
const MAX_INPUTS: usize = 64;

/// Run inference on tensors.
///
/// The Open Inference Protocol v2 request (Triton, KServe, MLServer): inputs with `datatype`,
/// `shape` and row-major `data`. An input the model's config makes from media
/// (`[models.NAME.inputs.INPUT]`) may instead be given as `media`: a picture, sound or video
/// URL (`data:` or fetched) that the gateway decodes and normalizes into exactly the declared
/// tensor (size, layout, mean and std, sample rate, datatype). Inputs are checked against the
/// model's metadata before anything is sent; a mismatch is a 400 naming the input. Outputs come
/// back as JSON arrays.
#[utoipa::path(
    post,
    path = "/v2/models/{model}/infer",
    tag = "inference",
    operation_id = "modelInfer",
    params(("model" = String, Path, description = "The model, by its name here.")),
    request_body = InferRequestBody,
    responses(
        (status = 200, description = "The model's output tensors.", body = InferResponseBody),
        PostErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn model_infer(
    State(state): State<AppState>,
    RequestDeadline(deadline): RequestDeadline,
    caller: Caller,
    Path(model_name): Path<String>,
    ApiJson(request): ApiJson<InferRequestBody>,
) -> Result<Response, ApiError> {
    admission::authorize(&caller, &model_name)?;
    let model = state.registry().get(&model_name)?.clone();
    exchange::asked(&model, Some(Task::Infer));
    model.require(Task::Infer)?;
    if request.inputs.is_empty() || request.inputs.len() > MAX_INPUTS {
        return Err(ApiError::invalid(
            format!("`inputs` must hold 1 to {MAX_INPUTS} inputs."),
            Some("inputs"),
        ));
    }
    let mut tensors: Vec<Option<Tensor>> = Vec::with_capacity(request.inputs.len());
    let mut media = Vec::new();
    for (i, input) in request.inputs.into_iter().enumerate() {
        match input.media.clone() {
            Some(url) => {
                let Some(spec) = model.media.tensor_inputs.get(&input.name) else {
                    return Err(ApiError::invalid(
                        format!(
                            "inputs[{i}] (`{}`): this model's config makes no input of that name from media; send `datatype`, `shape` and `data`.",
                            input.name
                        ),
                        Some(&format!("inputs[{i}].media")),
                    ));
                };
                if input.datatype.is_some() || input.shape.is_some() || input.data.is_some() {
                    return Err(ApiError::invalid(
                        format!(
                            "inputs[{i}] (`{}`): give `media` or `datatype`, `shape` and `data`, not both.",
                            input.name
                        ),
                        Some(&format!("inputs[{i}]")),
                    ));
                }
                media.push(MediaInput {
                    index: i,
                    param: format!("inputs[{i}].media"),
                    name: input.name,
                    url,
                    spec: spec.clone(),
                });
                tensors.push(None);
            }
            None => tensors.push(Some(tensor(i, input)?)),
        }
    }
    let outputs = request
        .outputs
        .unwrap_or_default()
        .into_iter()
        .map(|o| o.name)
        .collect::<Vec<_>>();
    let normalizer = state.normalizer();
    let made =
        exchange::media_stage(tensors::make(&normalizer, &model.name, &model.media, media)).await?;
    exchange::media(&made.usage);
    for (i, tensor) in made.tensors {
        tensors[i] = Some(tensor);
    }
    let inputs = tensors
        .into_iter()
        .collect::<Option<Vec<Tensor>>>()
        .ok_or_else(|| ApiError::Internal("a media input was not made".to_owned()))?;
    let admitted = admission::admit(state.tenancy(), &caller, &model.name, || {
        admission::charge(0, None, &made.usage)
    })
    .await?;
    let template = InferRequest {
        model: String::new(),
        id: request.id,
        inputs,
        outputs,
        parameters: request.parameters.unwrap_or_default(),
    };
    let served = dispatch::dispatch(
        &state,
        model,
        Task::Infer,
        deadline,
        Hedging::Allowed,
        |_, deployment| {
            let backend = Arc::clone(&deployment.backend);
            let request = InferRequest {
                model: deployment.upstream_model.clone(),
                ..template.clone()
            };
            async move { backend.infer(request).await }
        },
    )
    .await?;
    let labels = served.labels();
    let mut response = respond(&served.value, &served.model.name);
    labels.apply(&mut response);
    if let Some(admitted) = admitted {
        admitted.finish(&mut response);
    }
    Ok(response)
}

/// A tensor given as JSON, checked: a known datatype, a shape, and data that fills it with
/// valid elements.
fn tensor(i: usize, input: InferInput) -> Result<Tensor, ApiError> {
    let at = |field: &str| format!("inputs[{i}].{field}");
    let refuse = |field: &str, why: String| {
        ApiError::invalid(
            format!("inputs[{i}] (`{}`): {why}", input.name),
            Some(&at(field)),
        )
    };
    let datatype = match input.datatype.as_deref() {
        None => {
            return Err(refuse(
                "datatype",
                "`datatype` is required (or `media`).".to_owned(),
            ));
        }
        Some(name) => Datatype::parse(name).ok_or_else(|| {
            refuse(
                "datatype",
                format!(
                    "`{name}` is not a v2 datatype: one of {}.",
                    Datatype::ALL.map(Datatype::as_str).join(", ")
                ),
            )
        })?,
    };
    let Some(shape) = input.shape.clone() else {
        return Err(refuse("shape", "`shape` is required.".to_owned()));
    };
    let Some(data) = &input.data else {
        return Err(refuse("data", "`data` is required.".to_owned()));
    };
    let count = element_count(&shape)
        .filter(|n| *n <= 1 << 32)
        .ok_or_else(|| refuse("shape", format!("shape {shape:?} holds too many elements.")))?;
    let data = data_from_json(datatype, data, count).map_err(|why| refuse("data", why))?;
    Ok(Tensor {
        name: input.name.clone(),
        datatype,
        shape,
        data,
    })
}

#[derive(Serialize)]
struct Answer<'a> {
    model_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    parameters: &'a Map<String, Value>,
    outputs: Vec<Output<'a>>,
}

#[derive(Serialize)]
struct Output<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: &'a [u64],
    data: JsonData<'a>,
}

/// The answer as [`InferResponseBody`] JSON, under the model's public name; the output data is
/// written straight from the tensors.
fn respond(answer: &InferResponse, public_name: &str) -> Response {
    let body = Answer {
        model_name: public_name,
        model_version: answer.model_version.as_deref(),
        id: answer.id.as_deref(),
        parameters: &answer.parameters,
        outputs: answer
            .outputs
            .iter()
            .map(|t| Output {
                name: &t.name,
                datatype: t.datatype.as_str(),
                shape: &t.shape,
                data: JsonData(t),
            })
            .collect(),
    };
    Json(body).into_response()
}
