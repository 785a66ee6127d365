//! The handles of the per-model request series. Every label value is a configured name (a
//! model, a deployment) or one of omnigate's fixed codes, so the series are bounded by the
//! config; nothing a client sends (keys, users, paths) becomes a label.
//!
//! Each label set's handles are registered once and kept: on the common path (a model's own
//! deployment answered) in the model's [`ModelSeries`], reached without a lock; requests a
//! fallback answered and failed requests, rarer, in one map behind a lock. Recording is then
//! an atomic update, with no name or label hashed per request.

use super::names::{label, *};
use metrics::{Histogram, Label};
use omnigate_backend::Task;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};

/// Room for every operation, by [`Task`] in declaration order (chat, embeddings,
/// transcription, infer); one without room would go unrecorded rather than fail.
const OPERATIONS: usize = 4;

fn op_index(task: Task) -> usize {
    task as usize
}

/// One model's request series, kept beside it in the registry.
pub struct ModelSeries {
    name: Arc<str>,
    deployments: Box<[Arc<str>]>,
    /// Requests to this model its own deployment `i` answered, by operation.
    own: Box<[[OnceLock<Series>; OPERATIONS]]>,
}

impl ModelSeries {
    /// The series of model `name`, served by `deployments` (their names, in config order).
    pub fn new<'a>(name: &str, deployments: impl IntoIterator<Item = &'a str>) -> Self {
        let deployments: Box<[Arc<str>]> = deployments.into_iter().map(Arc::from).collect();
        let own = deployments
            .iter()
            .map(|_| [const { OnceLock::new() }; OPERATIONS])
            .collect();
        Self {
            name: Arc::from(name),
            deployments,
            own,
        }
    }

    /// The model's name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The name of deployment `index`.
    pub fn deployment(&self, index: usize) -> Option<&Arc<str>> {
        self.deployments.get(index)
    }

    /// The series of a successful `operation` this model's deployment `index` answered.
    pub fn answered(&self, index: usize, operation: Task) -> Option<&Series> {
        let slot = self.own.get(index)?.get(op_index(operation))?;
        let deployment = self.deployments.get(index)?;
        Some(slot.get_or_init(|| {
            Series::new(&Labels {
                operation,
                request_model: Arc::clone(&self.name),
                response_model: Some(Arc::clone(&self.name)),
                deployment: Some(Arc::clone(deployment)),
                error: None,
            })
        }))
    }
}

/// One request series' label values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Labels {
    /// `gen_ai_operation_name`.
    pub operation: Task,
    /// `gen_ai_request_model`.
    pub request_model: Arc<str>,
    /// `gen_ai_response_model` (`None`: no model answered).
    pub response_model: Option<Arc<str>>,
    /// `deployment` (`None`: no deployment answered).
    pub deployment: Option<Arc<str>>,
    /// `error_type` (`None`: it succeeded).
    pub error: Option<&'static str>,
}

static OTHERS: LazyLock<Mutex<HashMap<Labels, Arc<Series>>>> = LazyLock::new(Default::default);

/// The series of a request a fallback answered or that failed (registered on first use).
pub fn other(labels: Labels) -> Arc<Series> {
    let mut others = OTHERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(series) = others.get(&labels) {
        return Arc::clone(series);
    }
    let series = Arc::new(Series::new(&labels));
    others.insert(labels, Arc::clone(&series));
    series
}

/// The handles of one label set: the duration at once (every request records it), the rest
/// when first needed (an embeddings series never gets a time to first token).
pub struct Series {
    labels: Vec<Label>,
    duration: Histogram,
    time_to_first_token: OnceLock<Histogram>,
    time_per_output_token: OnceLock<Histogram>,
    input_tokens: OnceLock<Histogram>,
    output_tokens: OnceLock<Histogram>,
    image_pixels: OnceLock<Histogram>,
    audio_seconds: OnceLock<Histogram>,
    video_frames: OnceLock<Histogram>,
}

impl Series {
    fn new(values: &Labels) -> Self {
        let mut labels = vec![
            Label::new(label::OPERATION, values.operation.name()),
            Label::new(label::REQUEST_MODEL, Arc::clone(&values.request_model)),
        ];
        if let Some(model) = &values.response_model {
            labels.push(Label::new(label::RESPONSE_MODEL, Arc::clone(model)));
        }
        if let Some(deployment) = &values.deployment {
            labels.push(Label::new(label::DEPLOYMENT, Arc::clone(deployment)));
        }
        if let Some(error) = values.error {
            labels.push(Label::new(label::ERROR_TYPE, error));
        }
        Self {
            duration: metrics::histogram!(REQUEST_DURATION, labels.clone()),
            labels,
            time_to_first_token: OnceLock::new(),
            time_per_output_token: OnceLock::new(),
            input_tokens: OnceLock::new(),
            output_tokens: OnceLock::new(),
            image_pixels: OnceLock::new(),
            audio_seconds: OnceLock::new(),
            video_frames: OnceLock::new(),
        }
    }

    fn lazy<'a>(&self, slot: &'a OnceLock<Histogram>, name: &'static str) -> &'a Histogram {
        slot.get_or_init(|| metrics::histogram!(name, self.labels.clone()))
    }

    /// `gen_ai_server_request_duration_seconds`.
    pub fn duration(&self) -> &Histogram {
        &self.duration
    }

    /// `gen_ai_server_time_to_first_token_seconds`.
    pub fn time_to_first_token(&self) -> &Histogram {
        self.lazy(&self.time_to_first_token, TIME_TO_FIRST_TOKEN)
    }

    /// `gen_ai_server_time_per_output_token_seconds`.
    pub fn time_per_output_token(&self) -> &Histogram {
        self.lazy(&self.time_per_output_token, TIME_PER_OUTPUT_TOKEN)
    }

    /// `gen_ai_client_token_usage` with `gen_ai_token_type` `input` or `output`.
    pub fn tokens(&self, output: bool) -> &Histogram {
        let (slot, kind) = if output {
            (&self.output_tokens, "output")
        } else {
            (&self.input_tokens, "input")
        };
        slot.get_or_init(|| {
            let mut labels = self.labels.clone();
            labels.push(Label::new(label::TOKEN_TYPE, kind));
            metrics::histogram!(TOKEN_USAGE, labels)
        })
    }

    /// `omnigate_media_image_pixels`.
    pub fn image_pixels(&self) -> &Histogram {
        self.lazy(&self.image_pixels, MEDIA_IMAGE_PIXELS)
    }

    /// `omnigate_media_audio_seconds`.
    pub fn audio_seconds(&self) -> &Histogram {
        self.lazy(&self.audio_seconds, MEDIA_AUDIO_SECONDS)
    }

    /// `omnigate_media_video_frames`.
    pub fn video_frames(&self) -> &Histogram {
        self.lazy(&self.video_frames, MEDIA_VIDEO_FRAMES)
    }
}
