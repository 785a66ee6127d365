//! The Prometheus recorder: installed once per process, with each histogram's buckets (without
//! them the exporter would render summaries) and each metric's description.

use super::names::{self, *};
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder on first use; `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let buckets: [(&str, &[f64]); 8] = [
        (OVERHEAD_SECONDS, &names::OVERHEAD_BUCKETS),
        (REQUEST_DURATION, &names::REQUEST_DURATION_BUCKETS),
        (TIME_TO_FIRST_TOKEN, &names::TIME_TO_FIRST_TOKEN_BUCKETS),
        (TIME_PER_OUTPUT_TOKEN, &names::TIME_PER_OUTPUT_TOKEN_BUCKETS),
        (TOKEN_USAGE, &names::TOKEN_BUCKETS),
        (MEDIA_IMAGE_PIXELS, &names::PIXEL_BUCKETS),
        (MEDIA_AUDIO_SECONDS, &names::AUDIO_SECONDS_BUCKETS),
        (MEDIA_VIDEO_FRAMES, &names::FRAME_BUCKETS),
    ];
    let mut builder = PrometheusBuilder::new();
    for (name, values) in buckets {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), values)
            .ok()?;
    }
    let handle = builder.install_recorder().ok()?;
    describe();
    Some(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_histogram!(
        OVERHEAD_SECONDS,
        Unit::Seconds,
        "Time spent in the gateway per request, excluding the backend"
    );
    describe_counter!(
        REQUESTS_TOTAL,
        "Requests answered, by route and status class"
    );
    describe_counter!(
        ERRORS_TOTAL,
        "Failed requests, by route, status and error code (a stream that failed after its head: status 200)"
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "GenAI request duration, arrival to last byte (error_type set when it failed)"
    );
    describe_histogram!(
        TIME_TO_FIRST_TOKEN,
        Unit::Seconds,
        "Time to a stream's first event, for streams that started"
    );
    describe_histogram!(
        TIME_PER_OUTPUT_TOKEN,
        Unit::Seconds,
        "Time per output token after the first, for streams that reported their usage"
    );
    describe_histogram!(
        TOKEN_USAGE,
        Unit::Count,
        "Tokens per request as the backend reported them, by gen_ai_token_type (input, output)"
    );
    describe_histogram!(
        MEDIA_IMAGE_PIXELS,
        Unit::Count,
        "Pixels of the pictures and video frames a request passed on, after normalization"
    );
    describe_histogram!(
        MEDIA_AUDIO_SECONDS,
        Unit::Seconds,
        "Seconds of sound a request passed on, video sound tracks included"
    );
    describe_histogram!(
        MEDIA_VIDEO_FRAMES,
        Unit::Count,
        "Video frames a request passed on"
    );
}

/// Folds recorded histogram samples into buckets now and then, so memory stays flat between
/// scrapes. Runs until the runtime stops.
pub fn spawn_upkeep() {
    if let Some(handle) = handle() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}
