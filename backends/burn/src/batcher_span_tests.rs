//! The `embedded.batch` span: one per request in a batch, under the caller's span (the worker
//! thread opens it), saying how many requests shared the batch and how long this one queued.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::tests::{limits, start};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tracing::Instrument;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as the capturing layer saw it.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: &'static str,
    parent: Option<u64>,
    fields: HashMap<&'static str, String>,
}

struct Fields<'a>(&'a mut HashMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

/// Records every span, with its parent and fields, process-wide (the worker thread has no
/// thread-local subscriber, as in the gateway, where the subscriber is global).
struct Capture;

fn seen() -> &'static Mutex<HashMap<u64, Seen>> {
    static SEEN: OnceLock<Mutex<HashMap<u64, Seen>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = attrs.parent().cloned().or_else(|| {
            attrs
                .is_contextual()
                .then(|| ctx.current_span().id().cloned())
                .flatten()
        });
        let mut span = Seen {
            name: attrs.metadata().name(),
            parent: parent.map(|p| p.into_u64()),
            fields: HashMap::new(),
        };
        attrs.record(&mut Fields(&mut span.fields));
        seen().lock().unwrap().insert(id.into_u64(), span);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(span) = seen().lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }
}

#[tokio::test]
async fn each_request_of_a_batch_gets_a_batch_span_under_its_own_span() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Capture);
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    // A long delay so both requests surely share one batch.
    let (batcher, _) = start(limits(8, 1000, 300, 64), Duration::from_millis(20)).await;
    let call = |i: u32| {
        let batcher = batcher.clone();
        let span = tracing::info_span!("caller", n = i);
        let id = span.id().unwrap().into_u64();
        (id, async move { batcher.call(i, 1).await }.instrument(span))
    };
    let ((first_id, first), (second_id, second)) = (call(1), call(2));
    let (first, second) = tokio::join!(first, second);
    assert_eq!((first.unwrap(), second.unwrap()), (2, 4));
    let batch_spans: Vec<Seen> = seen()
        .lock()
        .unwrap()
        .values()
        .filter(|s| {
            s.name == "embedded.batch" && s.fields.get("model").map(String::as_str) == Some("test")
        })
        .filter(|s| s.parent == Some(first_id) || s.parent == Some(second_id))
        .cloned()
        .collect();
    assert_eq!(batch_spans.len(), 2, "{batch_spans:#?}");
    assert_ne!(
        batch_spans[0].parent, batch_spans[1].parent,
        "one under each caller"
    );
    for span in &batch_spans {
        assert_eq!(span.fields["batch_size"], "2");
        let delay: f64 = span.fields["queue_delay_ms"].parse().unwrap();
        assert!((0.0..2_000.0).contains(&delay), "{span:?}");
    }
}
