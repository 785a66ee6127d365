//! The config's keys reloaded on SIGHUP, in the real binary.

use super::*;

#[tokio::test]
async fn keys_are_reloaded_from_the_config_on_sighup() {
    let upstream = FakeUpstream::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = |key: &str| {
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\n[models.chat]\n[[models.chat.deployments]]\nkind = \"openai\"\nbase_url = \"{}\"\n[[keys]]\nid = \"{key}\"\nsecret = \"sk-og-{key}\"\n",
            upstream.base_url()
        )
    };
    let dir = std::env::temp_dir().join(format!("omnigate-reload-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("omnigate.toml");
    std::fs::write(&path, file("first")).unwrap();
    /// Killed when the test ends, however it ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let gateway = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_omnigate"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    let pid = gateway.0.id();
    let client = reqwest::Client::new();
    let status_with = |secret: &'static str| {
        let client = client.clone();
        async move {
            client
                .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
                .bearer_auth(secret)
                .json(&chat("chat"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let give_up = Instant::now() + Duration::from_secs(20);
    while status_with("sk-og-first").await != 200 {
        assert!(Instant::now() < give_up, "the gateway never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status_with("sk-og-second").await, 401);
    let hangup = |pid: u32| {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    std::fs::write(&path, file("second")).unwrap();
    hangup(pid);
    let give_up = Instant::now() + Duration::from_secs(10);
    while status_with("sk-og-second").await != 200 {
        assert!(Instant::now() < give_up, "the new key never worked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status_with("sk-og-first").await,
        401,
        "the removed key is refused"
    );
    // A config that does not load keeps the running keys.
    std::fs::write(&path, "[[keys]]\nid = \"broken\"\n").unwrap();
    hangup(pid);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status_with("sk-og-second").await, 200);
    let _ = std::fs::remove_dir_all(&dir);
}
