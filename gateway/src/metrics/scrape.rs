//! `GET /metrics`: what the recorder holds, then the gauges read at scrape time from the live
//! state (requests in flight, each deployment's state and load, the router's queues, the decode
//! pool, upstream connections). Those cost the request path nothing: they are counts the
//! gateway keeps anyway, read when Prometheus asks, and they always describe the models being
//! served now (a reload that removes a model removes its gauges).

use super::names::{label, *};
use super::recorder::handle;
use crate::state::AppState;
use omnigate_router::EndpointState;
use std::fmt::Write;

const STATES: [EndpointState; 4] = [
    EndpointState::Healthy,
    EndpointState::Ejected,
    EndpointState::HalfOpen,
    EndpointState::CoolingDown,
];

/// The Prometheus text of everything, with `in_flight` the `/v1` requests in flight now.
pub fn render(state: &AppState, in_flight: usize) -> String {
    let mut out = handle().map(|h| h.render()).unwrap_or_default();
    let mut text = Text(&mut out);
    text.family(
        IN_FLIGHT,
        "gauge",
        "Requests on /v1 in flight now (a stream counts until it ends)",
    );
    text.sample(IN_FLIGHT, &[], in_flight);
    deployments(state, &mut text);
    let decode = state.normalizer().decode_load();
    for (name, help, value) in [
        (
            DECODE_SLOTS,
            "Media decode slots (media.decode_concurrency)",
            decode.slots,
        ),
        (DECODE_BUSY, "Media decode slots in use now", decode.busy),
        (
            DECODE_WAITING,
            "Media items waiting for a decode slot now",
            decode.waiting,
        ),
    ] {
        text.family(name, "gauge", help);
        text.sample(name, &[], value);
    }
    out
}

/// A deployment's labels.
fn labels(row: &Row) -> [(&'static str, &str); 2] {
    [
        (label::MODEL, row.model.as_str()),
        (label::DEPLOYMENT, row.deployment.as_str()),
    ]
}

/// One deployment as the gauges see it.
struct Row {
    model: String,
    deployment: String,
    state: Option<EndpointState>,
    in_flight: usize,
    ewma_ms: f64,
    connections: Option<omnigate_backend::Connections>,
}

fn deployments(state: &AppState, text: &mut Text<'_>) {
    let registry = state.registry();
    let mut rows = Vec::new();
    let mut queues = Vec::new();
    for model in registry.iter() {
        let pool = model.pool();
        queues.push((model.name.clone(), pool.queued()));
        for (index, deployment) in model.deployments().iter().enumerate() {
            let snapshot = pool.snapshot(index);
            rows.push(Row {
                model: model.name.clone(),
                deployment: deployment.name.clone(),
                state: snapshot.as_ref().map(|s| s.state),
                in_flight: snapshot.as_ref().map_or(0, |s| s.in_flight),
                ewma_ms: snapshot.as_ref().map_or(0.0, |s| s.ewma_ms),
                connections: deployment.backend.connections(),
            });
        }
    }
    if rows.is_empty() {
        return;
    }
    text.family(
        DEPLOYMENT_IN_FLIGHT,
        "gauge",
        "Requests in flight to a deployment now",
    );
    for row in &rows {
        text.sample(DEPLOYMENT_IN_FLIGHT, &labels(row), row.in_flight);
    }
    text.family(
        DEPLOYMENT_STATE,
        "gauge",
        "A deployment's routing state: 1 for the state it is in (healthy, ejected, half_open, cooling_down)",
    );
    for row in &rows {
        for candidate in STATES {
            let [model, deployment] = labels(row);
            let value = usize::from(row.state == Some(candidate));
            text.sample(
                DEPLOYMENT_STATE,
                &[model, deployment, ("state", candidate.name())],
                value,
            );
        }
    }
    text.family(
        DEPLOYMENT_LATENCY,
        "gauge",
        "A deployment's peak-EWMA latency estimate, what the balancer compares",
    );
    for row in &rows {
        text.sample(DEPLOYMENT_LATENCY, &labels(row), row.ewma_ms / 1000.0);
    }
    text.family(
        QUEUED,
        "gauge",
        "Requests waiting for a deployment of the model with room (all at max_in_flight)",
    );
    for (model, queued) in &queues {
        text.sample(QUEUED, &[(label::MODEL, model)], *queued);
    }
    // Only deployments with a connection pool of their own (remote OpenAI-compatible servers).
    let pooled: Vec<_> = rows
        .iter()
        .filter_map(|row| Some((row, row.connections?)))
        .collect();
    if pooled.is_empty() {
        return;
    }
    text.family(
        UPSTREAM_CONNECTIONS,
        "gauge",
        "Upstream connections a deployment holds open now, idle or busy",
    );
    for (row, connections) in &pooled {
        text.sample(UPSTREAM_CONNECTIONS, &labels(row), connections.open);
    }
    text.family(
        UPSTREAM_CONNECTIONS_OPENED,
        "counter",
        "Upstream connections a deployment has opened",
    );
    for (row, connections) in &pooled {
        text.sample(
            UPSTREAM_CONNECTIONS_OPENED,
            &labels(row),
            connections.opened,
        );
    }
}

/// The Prometheus text format, written by hand for the scrape-time families.
struct Text<'a>(&'a mut String);

impl Text<'_> {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Families are separated by a blank line, as the recorder writes its own.
        if !self.0.is_empty() && !self.0.ends_with("\n\n") {
            self.0.push('\n');
        }
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                self.0.push_str(key);
                self.0.push_str("=\"");
                escape_into(self.0, value);
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_families_separated() {
        let mut out = String::new();
        let mut text = Text(&mut out);
        text.family("a", "gauge", "An a");
        text.sample("a", &[("model", "say \"hi\"\\\nbye")], 3);
        text.family("b", "counter", "A b");
        text.sample("b", &[], 0.5);
        assert_eq!(
            out,
            "# HELP a An a\n# TYPE a gauge\na{model=\"say \\\"hi\\\"\\\\\\nbye\"} 3\n\n\
             # HELP b A b\n# TYPE b counter\nb 0.5\n"
        );
    }
}
