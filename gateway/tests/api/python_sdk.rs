//! The official `openai` Python SDK against the running gateway. The interpreter comes from
//! `OMNIGATE_TEST_PYTHON` (set by `.ci/test`, which installs the SDK); without the SDK this
//! test fails and says how to get it.

use crate::common::Gateway;
use omnigate_testkit::{FakeUpstream, answer_text};
use std::path::Path;
use std::process::Command;

/// The Python interpreter with the test packages installed.
pub fn python() -> String {
    std::env::var("OMNIGATE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs a Python script from `tests/python`, panicking with its output if it fails.
pub fn run_python(script: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let output = Command::new(python())
        .arg(&path)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run the tests with .ci/test", python()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed (interpreter {}; `.ci/test` installs the packages it needs):\n{stdout}\n{stderr}",
        python()
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_sdk_parses_every_answer() {
    let upstream = FakeUpstream::start().await;
    let config = crate::common::config_for(&upstream.base_url(), r#"api_keys = ["sk-test"]"#)
        + &format!(
            "[models.asr]\ntasks = [\"transcription\"]\nmodalities = [\"audio\"]\n\
             [[models.asr.deployments]]\nkind = \"openai\"\nbase_url = \"{}\"\n",
            upstream.base_url()
        );
    let gateway = Gateway::from_toml(&config).await;
    let wav = std::env::temp_dir().join(format!("omnigate-sdk-{}.wav", std::process::id()));
    std::fs::write(&wav, crate::audio::wav(22_050, 2)).unwrap();
    let env = [
        ("OMNIGATE_BASE_URL", format!("http://{}", gateway.addr)),
        ("OMNIGATE_EXPECTED_ANSWER", answer_text("upstream-chat")),
        ("OMNIGATE_WAV", wav.display().to_string()),
        (
            "OMNIGATE_TRANSCRIPT",
            omnigate_testkit::TRANSCRIPT.to_owned(),
        ),
    ];
    let stdout = tokio::task::spawn_blocking(move || run_python("openai_sdk_client.py", &[], &env))
        .await
        .unwrap();
    assert!(stdout.contains("ok"), "{stdout}");
}
