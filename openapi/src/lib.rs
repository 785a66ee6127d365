//! omnigate's HTTP API types: the OpenAI wire format clients send and receive, each with its
//! OpenAPI schema. Route registration in the gateway turns these into the published spec
//! (`openapi/openapi.json`, checked against the code by a test so it never drifts).
//!
//! Answers that backends produce already in the wire shape (chat completions, chunks,
//! embeddings) are re-exported from the backend crate rather than defined twice.

mod admin;
mod audio;
mod chat;
mod content;
mod embeddings;
mod error;
mod infer;
mod models;
mod normalize;
mod status;

pub use admin::{
    CreateKeyRequest, KeyDeleted, KeyList, KeyObject, KeyWithSecret, UpdateKeyRequest, UsageQuery,
    UsageReport, UsageRow,
};
pub use audio::{
    DurationUsage, TranscriptionForm, TranscriptionJson, TranscriptionSegmentJson,
    TranscriptionVerbose,
};
pub use chat::{ChatCompletionRequest, ChatMessage, ChatRole, MediaLimits, StreamOptions};
pub use content::{ContentPart, ImageUrl, InputAudio, MediaUrl, MessageContent};
pub use embeddings::{EmbeddingsInput, EmbeddingsMediaItem, EmbeddingsRequest};
pub use error::{ErrorBody, ErrorResponse};
pub use infer::{InferInput, InferRequestBody, InferResponseBody, OutputTensor, RequestedOutput};
pub use models::{ModelList, ModelObject};
pub use normalize::{
    AudioItem, ImageItem, MediaUsage, NormalizeResponse, NormalizedItem, VideoItem,
};
pub use omnigate_backend::{
    AssistantMessage, ChatChoice, ChatChunk, ChatResponse, ChunkChoice, Delta, Embedding,
    EmbeddingVector, EmbeddingsResponse, Usage,
};
pub use status::{
    DeploymentHealth, DeploymentList, DeploymentStatus, FleetList, FleetWorker, Health, Readiness,
    ReloadResult,
};

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The spec's fixed parts: title, description, tags, security. Paths and schemas are added by
/// the gateway's route registration.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "omnigate",
        description = "A multimodal model-serving gateway speaking the OpenAI API. Send text, \
images, audio and video; omnigate authenticates the call, normalizes every piece of media into \
what the target model expects, routes it to a backend and answers in the OpenAI wire format.\n\n\
Authenticate with `Authorization: Bearer <key>` when the server has API keys configured. Errors \
always come as `{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "chat", description = "Chat completions, plain and streamed (SSE)."),
        (name = "embeddings", description = "Vector embeddings of text."),
        (name = "audio", description = "Speech to text."),
        (name = "inference", description = "Typed tensors in and out (Open Inference Protocol v2), for models on Triton, KServe or MLServer; pictures, sound and video may be sent as media and are normalized into the tensor the model's config declares."),
        (name = "models", description = "The models this gateway serves."),
        (name = "media", description = "How the gateway normalizes media for a model."),
        (name = "operations", description = "Liveness and readiness probes, API description."),
        (name = "admin", description = "Operators' views of the gateway's live state; they need an admin key (`server.admin_api_keys`)."),
        (name = "keys", description = "Virtual API keys: each with its allowed models, limits, budget and expiry. Needs an admin key (`server.admin_api_keys`)."),
        (name = "usage", description = "What each key, team and model used and cost. Needs an admin key (`server.admin_api_keys`)."),
    ),
    components(schemas(ErrorResponse, ErrorBody)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// Declares the bearer-key security scheme used by the `/v1` routes.
struct BearerAuth;

/// Name of the security scheme in the spec.
pub const BEARER_SCHEME: &str = "bearer";

/// Name of the admin security scheme in the spec.
pub const ADMIN_SCHEME: &str = "admin";

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key: a virtual key (`[[keys]]` or made through `/admin/keys`) \
                         or one of `server.api_keys`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            ADMIN_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An operator's key from the server's `server.admin_api_keys`.",
                    ))
                    .build(),
            ),
        );
    }
}
