//! `POST /v1/chat/completions` requests.

use crate::content::MessageContent;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A chat completion request, as OpenAI defines it. Fields not listed here are accepted and
/// forwarded to the backend unchanged.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    /// The model to use: one of `GET /v1/models` (`smollm2-135m-instruct` in the embedded
    /// default).
    #[schema(example = "smollm2-135m-instruct")]
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Answer as server-sent events (`chat.completion.chunk`), ending with `data: [DONE]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Upper bound on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Upper bound on generated tokens (older name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub top_p: Option<f64>,
    /// How many choices to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub n: Option<u32>,
    /// Up to four sequences where generation stops (a string or a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub stop: Option<Value>,
    /// Seed for reproducible sampling, where the backend supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Value>,
    /// Which tool to call: `none`, `auto`, `required` or a named function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<Value>,
    /// Output format: `{"type": "text" | "json_object" | "json_schema", ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<Value>,
    /// An end-user id for abuse monitoring, forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// omnigate extension: tighter media limits for this request. Each may lower the server's
    /// (or the model's) limit, never raise it; a value above it is a 400 naming the key. Not
    /// forwarded to the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_limits: Option<MediaLimits>,
    /// Any other field, forwarded to the backend untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatCompletionRequest {
    /// Every field except `model`, `messages` and `stream`, as the backend receives them.
    pub fn into_params(self) -> (String, Vec<ChatMessage>, bool, Map<String, Value>) {
        let Self {
            model,
            messages,
            stream,
            stream_options,
            max_completion_tokens,
            max_tokens,
            temperature,
            top_p,
            n,
            stop,
            seed,
            tools,
            tool_choice,
            response_format,
            user,
            media_limits: _,
            extra: mut params,
        } = self;
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                params.insert(key.to_owned(), value);
            }
        };
        put(
            "stream_options",
            stream_options.map(|o| serde_json::json!({"include_usage": o.include_usage})),
        );
        put(
            "max_completion_tokens",
            max_completion_tokens.map(Value::from),
        );
        put("max_tokens", max_tokens.map(Value::from));
        put("temperature", temperature.map(Value::from));
        put("top_p", top_p.map(Value::from));
        put("n", n.map(Value::from));
        put("stop", stop);
        put("seed", seed.map(Value::from));
        put("tools", tools);
        put("tool_choice", tool_choice);
        put("response_format", response_format);
        put("user", user.map(Value::from));
        (model, messages, stream.unwrap_or(false), params)
    }
}

/// Per-request media limits (`media_limits`), each at most what the server and the model allow.
/// Unset fields keep the server's limit. Counts are of parts as sent: a video counts as a video
/// whatever it reaches the model as (frames, sound), and its frames and sound are held to the
/// picture and sound limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaLimits {
    /// Largest single media item, in bytes (after base64 decoding or download).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_item_bytes: Option<usize>,
    /// Largest total of media bytes in the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<usize>,
    /// Most image parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_images: Option<usize>,
    /// Most audio parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_audio: Option<usize>,
    /// Most video parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_videos: Option<usize>,
    /// Longest side of each picture passed on (video frames included), in pixels; it bounds
    /// `detail: original` too. Models whose contract outputs a fixed-size tensor keep that size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_image_side: Option<u32>,
    /// Longest sound accepted, in seconds (video sound tracks included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0.0)]
    pub max_audio_seconds: Option<f64>,
    /// Longest video accepted, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0.0)]
    pub max_video_seconds: Option<f64>,
    /// Most frames taken from each video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_video_frames: Option<u32>,
}

/// Options for streamed answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct StreamOptions {
    /// End the stream with a chunk carrying `usage` and no choices.
    #[serde(default)]
    pub include_usage: bool,
}

/// One message of the conversation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: ChatRole,
    /// A string, or a list of typed parts (text, image_url, input_audio, audio_url, video_url).
    /// May be null for an assistant message that only calls tools.
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// Other message fields (`name`, `tool_calls`, `tool_call_id`, ...), forwarded untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Message authors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    /// Instructions from the application.
    System,
    /// Instructions from the application (newer name).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
    /// A function's result (deprecated).
    Function,
}
