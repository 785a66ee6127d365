//! Traces over OTLP/gRPC, to a receiver built in the test from OpenTelemetry's own service
//! definition (`opentelemetry-proto`'s generated tonic server) on a loopback port: the spans
//! arrive with the configured resource and export headers, a new trace is sampled at ratio 1
//! (no client `traceparent`), and the try's span is the upstream's parent.

use super::{free_port, start_gateway};
use omnigate_testkit::FakeUpstream;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every export received: its gRPC metadata and its spans with their resource's attributes.
#[derive(Clone, Default)]
struct Collector {
    exports: Arc<Mutex<Vec<(tonic::metadata::MetadataMap, ExportTraceServiceRequest)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let (metadata, _, body) = request.into_parts();
        self.exports.lock().unwrap().push((metadata, body));
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    async fn start(&self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        port
    }

    /// Every span received, with its resource's attributes.
    fn spans(&self) -> Vec<(Vec<KeyValue>, Span)> {
        let exports = self.exports.lock().unwrap();
        let mut out = Vec::new();
        for (_, request) in exports.iter() {
            for resource_spans in &request.resource_spans {
                let resource = resource_spans
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for scope in &resource_spans.scope_spans {
                    out.extend(scope.spans.iter().map(|s| (resource.clone(), s.clone())));
                }
            }
        }
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn string_attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            Any::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_a_grpc_collector_with_the_resource_and_headers_configured() {
    let upstream = FakeUpstream::start().await;
    let collector = Collector::default();
    let otlp_port = collector.start().await;
    let port = free_port();
    let config = format!(
        r#"
[server]
bind = "127.0.0.1:{port}"
[telemetry]
otlp_endpoint = "http://127.0.0.1:{otlp_port}"
protocol = "grpc"
sampling_ratio = 1.0
service_name = "omnigate-grpc-test"
headers = {{ x-collector-token = "env::OMNIGATE_TEST_OTLP_TOKEN" }}
[models.chat]
[[models.chat.deployments]]
kind = "openai"
name = "primary"
base_url = "{}"
"#,
        upstream.base_url()
    );
    let _gateway = start_gateway(
        port,
        &config,
        &[("OMNIGATE_TEST_OTLP_TOKEN", "collector-secret")],
    )
    .await;
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .json(&json!({"model": "chat", "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let give_up = Instant::now() + Duration::from_secs(20);
    let (resource, root) = loop {
        let root = collector.spans().into_iter().find(|(_, span)| {
            span.name == "POST /v1/chat/completions" && span.kind == SpanKind::Server as i32
        });
        if let Some(root) = root {
            break root;
        }
        assert!(
            Instant::now() < give_up,
            "no request span arrived over gRPC"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        root.parent_span_id.is_empty(),
        "a new trace: the request span is its root"
    );
    assert_eq!(
        string_attr(&resource, "service.name").as_deref(),
        Some("omnigate-grpc-test")
    );
    let exports = collector.exports.lock().unwrap().clone();
    assert!(exports.iter().all(|(metadata, _)| {
        metadata
            .get("x-collector-token")
            .and_then(|v| v.to_str().ok())
            == Some("collector-secret")
    }));

    let spans: Vec<Span> = collector
        .spans()
        .into_iter()
        .map(|(_, span)| span)
        .filter(|span| span.trace_id == root.trace_id)
        .collect();
    let under = |parent: &Span, name: &str| -> Span {
        spans
            .iter()
            .find(|s| s.parent_span_id == parent.span_id && s.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no `{name}` under `{}`: {spans:#?}", parent.name))
    };
    let dispatch = under(&root, "dispatch");
    let attempt = under(&dispatch, "attempt");
    assert_eq!(
        string_attr(&attempt.attributes, "deployment").as_deref(),
        Some("primary")
    );
    let expected = format!("00-{}-{}-01", hex(&root.trace_id), hex(&attempt.span_id));
    assert_eq!(
        upstream.last_request().traceparent.as_deref(),
        Some(expected.as_str())
    );
}
