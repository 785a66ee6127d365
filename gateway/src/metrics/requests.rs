//! A finished request counted: its failure by status and code, and, for a request to a model,
//! its duration, time to first token and per output token, tokens and media.

use super::names::{ERRORS_TOTAL, label};
use super::recorder::handle;
use super::routes::route_of;
use super::series::{Labels, Series, other};
use crate::exchange::Finished;
use metrics::{Counter, Label};
use omnigate_backend::Task;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// The code of a request whose client left before the response head (nginx's 499).
const CLIENT_CLOSED: &str = "client_closed_request";
/// The status recorded for it.
const CLIENT_CLOSED_STATUS: u16 = 499;
/// OpenTelemetry's `error.type` for a failure without a code of its own.
const OTHER: &str = "_OTHER";

/// Counts `finished` in the request metrics.
pub fn record(finished: &Finished<'_>) {
    // A handle taken before the recorder exists would record nowhere.
    if handle().is_none() {
        return;
    }
    let record = finished.record;
    let status = record.status.map_or(CLIENT_CLOSED_STATUS, |s| s.as_u16());
    let failure = match (record.status, status) {
        (None, _) => Some(CLIENT_CLOSED),
        (Some(_), 400..) => Some(record.error_code.unwrap_or(OTHER)),
        _ => record.stream_error,
    };
    if let Some(code) = failure {
        let route = record
            .route
            .as_ref()
            .map_or("unmatched", |path| route_of(path.as_str()).label());
        let model = record.asked.as_ref().map(|m| m.series().name());
        count_error(route, status, code, model);
    }
    let (Some(asked), Some(operation)) = (&record.asked, record.operation) else {
        return;
    };
    let asked = asked.series();
    let served = record
        .served
        .as_ref()
        .map(|(model, index)| (model.series(), *index));
    let shared;
    let series: &Series = match served {
        Some((model, index)) if failure.is_none() && Arc::ptr_eq(model.name(), asked.name()) => {
            match model.answered(index, operation) {
                Some(series) => series,
                None => return,
            }
        }
        _ => {
            shared = other(Labels {
                operation,
                request_model: Arc::clone(asked.name()),
                response_model: served.map(|(model, _)| Arc::clone(model.name())),
                deployment: served.and_then(|(model, index)| model.deployment(index).cloned()),
                error: failure,
            });
            &shared
        }
    };
    series.duration().record(finished.duration.as_secs_f64());
    if failure.is_none() {
        record_success(finished, operation, series);
    }
}

fn record_success(finished: &Finished<'_>, operation: Task, series: &Series) {
    let record = finished.record;
    // A stream's head leaves once its first event has come (see `dispatch::first_event`).
    let first_token = record.head.filter(|_| record.streamed);
    if let Some(head) = first_token {
        series.time_to_first_token().record(head.as_secs_f64());
    }
    if let Some(tokens) = record.tokens {
        series.tokens(false).record(tokens.prompt_tokens as f64);
        // Embeddings have no output tokens; a transcription reports none.
        if operation == Task::Chat {
            let output = tokens.completion_tokens;
            series.tokens(true).record(output as f64);
            if let Some(head) = first_token
                && output > 1
            {
                series.time_per_output_token().record(per_output_token(
                    finished.duration,
                    head,
                    output,
                ));
            }
        }
    }
    if let Some(media) = &record.media {
        if media.image_pixels > 0 {
            series.image_pixels().record(media.image_pixels as f64);
        }
        if media.audio_seconds > 0.0 {
            series.audio_seconds().record(media.audio_seconds);
        }
        if media.video_frames > 0 {
            series.video_frames().record(f64::from(media.video_frames));
        }
    }
}

/// An error series' label values.
#[derive(PartialEq, Eq, Hash)]
struct ErrorKey {
    route: &'static str,
    status: u16,
    code: &'static str,
    model: Option<Arc<str>>,
}

static ERRORS: LazyLock<Mutex<HashMap<ErrorKey, Counter>>> = LazyLock::new(Default::default);

/// `omnigate_errors_total`, its handle registered the first time its labels occur (failures
/// are the rare path; a lock and a hash there cost nothing the fast path pays).
fn count_error(route: &'static str, status: u16, code: &'static str, model: Option<&Arc<str>>) {
    let key = ErrorKey {
        route,
        status,
        code,
        model: model.cloned(),
    };
    let mut errors = ERRORS.lock().unwrap_or_else(PoisonError::into_inner);
    let counter = errors.entry(key).or_insert_with_key(|key| {
        let mut labels = vec![
            Label::new("route", key.route),
            Label::new("status", status_label(key.status)),
            Label::new("code", key.code),
        ];
        if let Some(model) = &key.model {
            labels.push(Label::new(label::REQUEST_MODEL, Arc::clone(model)));
        }
        metrics::counter!(ERRORS_TOTAL, labels)
    });
    counter.increment(1);
}

/// The statuses omnigate answers itself, each its own label.
const OWN_STATUSES: [(u16, &str); 16] = [
    (200, "200"),
    (400, "400"),
    (401, "401"),
    (403, "403"),
    (404, "404"),
    (405, "405"),
    (409, "409"),
    (413, "413"),
    (415, "415"),
    (422, "422"),
    (429, "429"),
    (499, "499"),
    (500, "500"),
    (502, "502"),
    (503, "503"),
    (504, "504"),
];

/// The status as a label: the code itself for those omnigate answers, else its class (an
/// upstream's 4xx is relayed as it came, and must not make a series per code).
fn status_label(status: u16) -> &'static str {
    match OWN_STATUSES.iter().find(|(code, _)| *code == status) {
        Some((_, label)) => label,
        None => match status / 100 {
            4 => "4xx",
            5 => "5xx",
            _ => "other",
        },
    }
}

/// Seconds per output token after the first: the stream's time after its first event, over the
/// tokens that came after it (`output` is at least 2).
fn per_output_token(duration: Duration, head: Duration, output: u64) -> f64 {
    duration.saturating_sub(head).as_secs_f64() / output.saturating_sub(1).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_omnigate_answers_are_their_own_label_and_others_their_class() {
        assert_eq!(status_label(429), "429");
        assert_eq!(status_label(499), "499");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(507), "5xx");
        assert_eq!(status_label(302), "other");
    }

    #[test]
    fn time_per_output_token_counts_the_tokens_after_the_first() {
        let per = per_output_token(Duration::from_millis(1100), Duration::from_millis(100), 11);
        assert!((per - 0.1).abs() < 1e-12, "{per}");
    }
}
