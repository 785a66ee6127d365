//! Every metric name and label key `/metrics` exposes, with the histograms' buckets: one list,
//! read by the recorder (buckets, descriptions), the recording code and the README.
//!
//! Where OpenTelemetry's GenAI semantic conventions name a measurement (semconv 1.36+,
//! `docs/gen-ai/gen-ai-metrics.md`), the name is theirs translated the Prometheus way (dots
//! to underscores, the unit `s` as `_seconds`, `{token}` dropped): `gen_ai.server.request.duration`
//! is `gen_ai_server_request_duration_seconds`, its attribute `gen_ai.request.model` the label
//! `gen_ai_request_model`. The rest is omnigate's own, under `omnigate_`.

/// Time spent in the gateway per request, excluding the backend (`route`).
pub const OVERHEAD_SECONDS: &str = "omnigate_overhead_seconds";
/// Requests answered on `/v1`, by route and status class.
pub const REQUESTS_TOTAL: &str = "omnigate_requests_total";
/// Failed requests on any route, by status and omnigate's error code.
pub const ERRORS_TOTAL: &str = "omnigate_errors_total";

/// `gen_ai.server.request.duration`: from the request's arrival to its last byte.
pub const REQUEST_DURATION: &str = "gen_ai_server_request_duration_seconds";
/// `gen_ai.server.time_to_first_token`: a stream's first event, for successful streams.
pub const TIME_TO_FIRST_TOKEN: &str = "gen_ai_server_time_to_first_token_seconds";
/// `gen_ai.server.time_per_output_token`: after the first, for streams that report usage.
pub const TIME_PER_OUTPUT_TOKEN: &str = "gen_ai_server_time_per_output_token_seconds";
/// `gen_ai.client.token.usage`: tokens per request, by `gen_ai_token_type`.
pub const TOKEN_USAGE: &str = "gen_ai_client_token_usage";

/// Output pixels of a request's pictures and video frames.
pub const MEDIA_IMAGE_PIXELS: &str = "omnigate_media_image_pixels";
/// Seconds of sound a request passed on (video sound tracks included).
pub const MEDIA_AUDIO_SECONDS: &str = "omnigate_media_audio_seconds";
/// Video frames a request passed on.
pub const MEDIA_VIDEO_FRAMES: &str = "omnigate_media_video_frames";

/// `/v1` requests in flight now (a stream counts until it ends).
pub const IN_FLIGHT: &str = "omnigate_requests_in_flight";
/// Requests in flight to a deployment now.
pub const DEPLOYMENT_IN_FLIGHT: &str = "omnigate_deployment_in_flight";
/// A deployment's state: 1 for the one it is in, 0 for the others.
pub const DEPLOYMENT_STATE: &str = "omnigate_deployment_state";
/// A deployment's peak-EWMA latency estimate (what the balancer compares).
pub const DEPLOYMENT_LATENCY: &str = "omnigate_deployment_latency_ewma_seconds";
/// Requests waiting for a deployment of the model (all at their `max_in_flight`).
pub const QUEUED: &str = "omnigate_model_queued_requests";
/// Media decode slots (`media.decode_concurrency`).
pub const DECODE_SLOTS: &str = "omnigate_media_decode_slots";
/// Decode slots in use now.
pub const DECODE_BUSY: &str = "omnigate_media_decode_busy";
/// Media items waiting for a decode slot now.
pub const DECODE_WAITING: &str = "omnigate_media_decode_waiting";
/// Upstream connections a deployment holds open now (idle or busy).
pub const UPSTREAM_CONNECTIONS: &str = "omnigate_upstream_connections";
/// Upstream connections a deployment has opened.
pub const UPSTREAM_CONNECTIONS_OPENED: &str = "omnigate_upstream_connections_opened_total";

/// Label keys (OpenTelemetry attribute names, translated).
pub mod label {
    /// `gen_ai.operation.name`: `chat`, `embeddings` or `transcription`.
    pub const OPERATION: &str = "gen_ai_operation_name";
    /// `gen_ai.request.model`: the model the client asked for (a configured name).
    pub const REQUEST_MODEL: &str = "gen_ai_request_model";
    /// `gen_ai.response.model`: the model that answered (a fallback, or the one asked for).
    pub const RESPONSE_MODEL: &str = "gen_ai_response_model";
    /// `gen_ai.token.type`: `input` or `output`.
    pub const TOKEN_TYPE: &str = "gen_ai_token_type";
    /// `error.type`: omnigate's error code (`bad_gateway`, `upstream_timeout`, ...).
    pub const ERROR_TYPE: &str = "error_type";
    /// The deployment's name within its model (the config's `name`, else its index).
    pub const DEPLOYMENT: &str = "deployment";
    /// The model a deployment belongs to (gauges about deployments).
    pub const MODEL: &str = "model";
}

/// OpenTelemetry's advised boundaries for `gen_ai.server.request.duration`.
pub const REQUEST_DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// OpenTelemetry's advised boundaries for `gen_ai.server.time_to_first_token`.
pub const TIME_TO_FIRST_TOKEN_BUCKETS: [f64; 16] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// OpenTelemetry's advised boundaries for `gen_ai.server.time_per_output_token`.
pub const TIME_PER_OUTPUT_TOKEN_BUCKETS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];
/// OpenTelemetry's advised boundaries for `gen_ai.client.token.usage`.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0,
    4.0,
    16.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];
/// The gateway's own time: tens of microseconds on the fast path, milliseconds with media.
pub const OVERHEAD_BUCKETS: [f64; 16] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5,
];
/// Pixels per request: a thumbnail (64² = 4096) to dozens of full-size frames.
pub const PIXEL_BUCKETS: [f64; 9] = [
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
];
/// Seconds of sound per request, up to `media.audio.max_seconds`' default and beyond.
pub const AUDIO_SECONDS_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// Frames per request, up to `media.video.max_frames`' default and beyond.
pub const FRAME_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];
