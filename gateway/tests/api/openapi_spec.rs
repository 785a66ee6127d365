//! The committed `openapi/openapi.json` is what the code registers, what the running server
//! serves, and a valid OpenAPI 3.1 document. Regenerate it with
//! `cargo run -p omnigate -- openapi --output openapi/openapi.json`.

use crate::common::Gateway;
use crate::python_sdk::run_python;
use omnigate_testkit::FakeUpstream;
use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

#[test]
fn committed_spec_matches_the_code() {
    let generated = omnigate::routes::openapi().to_pretty_json().unwrap() + "\n";
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        generated == committed,
        "openapi/openapi.json is stale: run `cargo run -p omnigate -- openapi --output openapi/openapi.json`"
    );
}

#[tokio::test]
async fn running_server_serves_the_committed_spec() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let served: serde_json::Value = gateway.get("/openapi.json").await.json().await.unwrap();
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(committed_path()).unwrap()).unwrap();
    assert_eq!(served, committed);
    // Every served path is routed (the spec lists real routes): it may answer 404 for a thing
    // that does not exist (a key id), never the unknown-path 404.
    for path in served["paths"].as_object().unwrap().keys() {
        let path = path.replace("{model}", "chat");
        let response = gateway.client.get(gateway.url(&path)).send().await.unwrap();
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("unknown_url"),
            "{path} is in the spec but not served: {body}"
        );
    }
}

#[test]
fn committed_spec_is_valid_openapi_3_1() {
    let path = committed_path().canonicalize().unwrap();
    let stdout = run_python("validate_openapi.py", &[path.to_str().unwrap()], &[]);
    assert!(stdout.contains("valid OpenAPI 3.1"), "{stdout}");
}
