//! `GET /v1/models` answers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The models served (`object: "list"`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    /// Always `list`.
    #[schema(example = "list")]
    pub object: String,
    /// The models.
    pub data: Vec<ModelObject>,
}

/// One model (`object: "model"`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelObject {
    /// The name to put in a request's `model`.
    #[schema(example = "gpt-4o-mini")]
    pub id: String,
    /// Always `model`.
    #[schema(example = "model")]
    pub object: String,
    /// Unix time the gateway started serving it.
    pub created: u64,
    /// Always `omnigate`.
    pub owned_by: String,
}
