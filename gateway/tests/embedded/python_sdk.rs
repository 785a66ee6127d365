//! The official `openai` Python SDK (installed by `.ci/test`) against the embedded models.

use std::process::Command;

use crate::gateway;

#[test]
fn official_openai_sdk_calls_every_embedded_model() {
    let dir = std::env::temp_dir().join(format!("omnigate-embedded-sdk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (png, wav) = (dir.join("page.png"), dir.join("beckett.wav"));
    std::fs::write(&png, include_bytes!("testdata/ocr_page.png")).unwrap();
    std::fs::write(&wav, crate::vad::beckett()).unwrap();
    let python = std::env::var("OMNIGATE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python/embedded_sdk_client.py");
    let output = Command::new(&python)
        .arg(script)
        .env("OMNIGATE_BASE_URL", format!("http://{}", gateway()))
        .env("OMNIGATE_PNG", &png)
        .env("OMNIGATE_WAV", &wav)
        .env("OMNIGATE_EXPECTED_TEXT", "HELLO WORLD")
        .env(
            "OMNIGATE_EXPECTED_WORDS",
            "Ever tried, ever failed. No matter, try again. Fail again. Fail better.",
        )
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run the tests with .ci/test"));
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success() && stdout.contains("ok"),
        "(.ci/test installs the SDK)\n{stdout}\n{stderr}"
    );
}
