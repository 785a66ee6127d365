//! NKey seeds, TLS with a private CA, and subject permissions, against a `nats-server`
//! configured by a file each test writes.

use crate::helpers::*;
use omnigate_backend::echo::EchoBackend;
use omnigate_backend::{Backend, BackendError};
use omnigate_backend_fleet::{Credentials, FleetError, NatsSettings, subjects};
use omnigate_testkit::NatsServer;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A directory of its own under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("fleet-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    /// Writes `contents` to `name` in it; returns the file's path.
    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server started with the configuration file `config`.
fn configured(config: &Path) -> NatsServer {
    NatsServer::start_with(&["-c", config.to_str().unwrap()])
}

fn with(url: &str, credentials: Credentials) -> NatsSettings {
    NatsSettings {
        credentials,
        ..nats(url)
    }
}

/// Starts a worker serving `model` (echo) with `settings`, and a gateway for `model` with
/// `gateway`; checks a chat goes through, then drains the worker.
async fn round_trip(worker: NatsSettings, gateway: NatsSettings, model: &str) {
    let mut settings = worker_settings(&worker.url, "og", "w1", 2);
    settings.nats = worker;
    let mut worker = Worker::spawn(settings, vec![serving(model, EchoBackend::new())]);
    let backend = backend_with(gateway, "og", model, echo_caps(), Duration::from_secs(5)).await;
    healthy(&backend).await;
    let answer = backend.chat(hello(model, "secured")).await.unwrap();
    assert_eq!(text_of(answer), "echo: secured");
    worker.shut_down();
    worker.finished().await.unwrap();
}

/// `serve` with `nats`, which must fail to connect within a few seconds.
async fn refused(nats: NatsSettings) -> FleetError {
    let mut settings = worker_settings(&nats.url, "og", "w-refused", 1);
    settings.nats = nats;
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(8),
        omnigate_backend_fleet::serve(settings, vec![serving("m", EchoBackend::new())], async {}),
    )
    .await
    .expect("a refused connect must be bounded");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let err = result.unwrap_err();
    assert!(
        matches!(err, FleetError::Connect { .. } | FleetError::Settings(_)),
        "{err}"
    );
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nkey_seeds_authenticate_and_a_wrong_seed_is_refused() {
    let user = nkeys::KeyPair::new_user();
    let scratch = Scratch::new("nkey");
    let config = scratch.write(
        "server.conf",
        &format!(
            "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n",
            user.public_key()
        ),
    );
    let server = configured(&config);
    let seed = user.seed().unwrap();
    assert!(seed.starts_with("SU"), "{seed}");
    let good = with(&server.url(), Credentials::NKeySeed(seed.clone().into()));
    round_trip(good.clone(), good, "m").await;

    // Without credentials, or with a user seed the server does not know: refused at once.
    let err = refused(nats(&server.url())).await;
    assert!(err.to_string().contains("authorization"), "{err}");
    let stranger = nkeys::KeyPair::new_user().seed().unwrap();
    let err = refused(with(
        &server.url(),
        Credentials::NKeySeed(stranger.clone().into()),
    ))
    .await;
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(&stranger), "{text}");
        assert!(!text.contains(&seed), "{text}");
    }

    // A string that is not a seed at all is a settings error before any connection, not echoed.
    let garbage = "SUNOTASEEDATALL0123456789";
    let err = refused(with(
        &server.url(),
        Credentials::NKeySeed(garbage.to_owned().into()),
    ))
    .await;
    assert!(matches!(err, FleetError::Settings(_)), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(garbage), "{text}");
    }
}

/// A private CA and a certificate it signed for `127.0.0.1` and `localhost`, as PEM files in
/// `scratch`: (CA certificate, server certificate, server key).
fn private_ca(scratch: &Scratch) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fleet test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

    let mut server_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    server_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();
    (
        scratch.write("ca.pem", &ca.pem()),
        scratch.write("server.pem", &server_cert.pem()),
        scratch.write("server-key.pem", &server_key.serialize_pem()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca_serves_and_without_the_ca_is_refused() {
    let scratch = Scratch::new("tls");
    let (ca, cert, key) = private_ca(&scratch);
    let config = scratch.write(
        "server.conf",
        &format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n  timeout: 2\n}}\n",
            cert.to_str().unwrap(),
            key.to_str().unwrap()
        ),
    );
    let server = configured(&config);
    let trusted = NatsSettings {
        tls_required: true,
        root_certificate: Some(ca.clone()),
        ..nats(&server.url())
    };
    round_trip(trusted.clone(), trusted, "m").await;

    // The server's certificate is signed by a CA the client does not trust: refused, bounded,
    // with or without `tls_required` (the server requires TLS either way).
    for tls_required in [true, false] {
        let untrusting = NatsSettings {
            tls_required,
            ..nats(&server.url())
        };
        refused(untrusting).await;
    }

    // A gateway without the CA starts, but never reaches the server: it fails fast.
    let untrusting = NatsSettings {
        tls_required: true,
        ..nats(&server.url())
    };
    let backend = backend_with(untrusting, "og", "m", echo_caps(), Duration::from_secs(30)).await;
    let started = Instant::now();
    let err = backend.chat(hello("m", "anyone?")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        matches!(&err, BackendError::Unavailable(m) if m.contains("not connected")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_permissions_keep_a_worker_to_its_model() {
    let request_a = subjects::request_subject("og", "A");
    let heartbeats = subjects::heartbeat_subject("og");
    // The worker may take requests for model A only. What the protocol needs besides: its
    // heartbeats, frames to the gateway's inbox, its own control inbox (`_INBOX.>` both ways).
    let scratch = Scratch::new("perms");
    let config = scratch.write(
        "server.conf",
        &format!(
            "authorization {{\n  users = [\n    {{ user: gateway, password: gateway-pass }}\n    \
             {{ user: worker-a, password: worker-pass, permissions: {{\n      \
             publish: {{ allow: [\"{heartbeats}\", \"_INBOX.>\"] }}\n      \
             subscribe: {{ allow: [\"{request_a}\", \"_INBOX.>\"] }}\n    }} }}\n  ]\n}}\n"
        ),
    );
    let server = configured(&config);
    let url = server.url();
    let gateway = with(
        &url,
        Credentials::UserPassword {
            user: "gateway".into(),
            password: "gateway-pass".to_owned().into(),
        },
    );
    let worker = with(
        &url,
        Credentials::UserPassword {
            user: "worker-a".into(),
            password: "worker-pass".to_owned().into(),
        },
    );

    // Model A: served end to end under those permissions.
    round_trip(worker.clone(), gateway.clone(), "A").await;

    // The same credentials configured to serve model B: the server refuses the subscription
    // (asynchronously: SUB has no reply, so `serve` neither fails nor notices), the worker's
    // heartbeats still name B, and a request for B finds no subscriber. The gateway, hearing
    // a live worker for B, takes "no responders" for a busy fleet: `Overloaded`, at once.
    let mut settings = worker_settings(&url, "og", "w-b", 2);
    settings.nats = worker;
    let mut worker_b = Worker::spawn(settings, vec![serving("B", EchoBackend::new())]);
    let backend = backend_with(gateway, "og", "B", echo_caps(), Duration::from_secs(5)).await;
    healthy(&backend).await;
    let started = Instant::now();
    let err = backend.chat(hello("B", "not for you")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&err, BackendError::Overloaded(m) if m.contains("workers serving model B are busy")),
        "{err:?}"
    );
    // The worker is still running (nothing told it its subscription was refused).
    assert!(!worker_b.is_finished());
    worker_b.shut_down();
    worker_b.finished().await.unwrap();
}

/// A JWT as nats-server reads it: `claims` (with `iss` set to `issuer`) signed by `issuer`.
fn jwt(issuer: &nkeys::KeyPair, mut claims: serde_json::Value) -> String {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    static JTI: AtomicUsize = AtomicUsize::new(0);
    claims["iss"] = issuer.public_key().into();
    claims["iat"] = 1_700_000_000u64.into();
    claims["jti"] = format!("JTI{}", JTI.fetch_add(1, Ordering::Relaxed)).into();
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64(claims.to_string().as_bytes());
    let signed = format!("{header}.{body}");
    let signature = b64(&issuer.sign(signed.as_bytes()).unwrap());
    format!("{signed}.{signature}")
}

/// An operator, an account and a user of it, the way `nsc` would set them up: the server's
/// configuration (operator mode, the account preloaded) and the user's `.creds` file text.
fn operator_setup(account: &nkeys::KeyPair, user: &nkeys::KeyPair) -> (String, String) {
    let operator = nkeys::KeyPair::new_operator();
    let operator_jwt = jwt(
        &operator,
        serde_json::json!({"sub": operator.public_key(), "name": "op",
            "nats": {"type": "operator", "version": 2}}),
    );
    let account_jwt = jwt(
        &operator,
        serde_json::json!({"sub": account.public_key(), "name": "fleet",
            "nats": {"type": "account", "version": 2,
                "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1}}}),
    );
    let user_jwt = jwt(
        account,
        serde_json::json!({"sub": user.public_key(), "name": "worker",
            "nats": {"type": "user", "version": 2, "subs": -1, "data": -1, "payload": -1}}),
    );
    let config = format!(
        "operator: \"{operator_jwt}\"\nresolver: MEMORY\nresolver_preload: {{\n  {}: \"{account_jwt}\"\n}}\n",
        account.public_key()
    );
    let creds = format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().unwrap()
    );
    (config, creds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creds_files_authenticate_and_foreign_or_missing_ones_are_refused() {
    let account = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let (config, creds) = operator_setup(&account, &user);
    let scratch = Scratch::new("creds");
    let server = configured(&scratch.write("server.conf", &config));
    let creds = scratch.write("worker.creds", &creds);
    let good = with(&server.url(), Credentials::CredsFile(creds));
    round_trip(good.clone(), good, "m").await;

    // A user of an account this server's operator never signed: refused at once, and neither
    // the file's seed nor its JWT shows in the error.
    let (_, foreign) = operator_setup(&nkeys::KeyPair::new_account(), &nkeys::KeyPair::new_user());
    let foreign_path = scratch.write("foreign.creds", &foreign);
    let err = refused(with(&server.url(), Credentials::CredsFile(foreign_path))).await;
    assert!(err.to_string().contains("authorization"), "{err}");
    for text in [err.to_string(), format!("{err:?}")] {
        for secret_line in foreign
            .lines()
            .filter(|l| l.starts_with("SU") || l.starts_with("ey"))
        {
            assert!(!text.contains(secret_line), "{text}");
        }
    }

    // No file there, or a file that is not a creds file: a settings error, before any dialing.
    for path in [
        scratch.0.join("absent.creds"),
        scratch.write("junk.creds", "not creds\n"),
    ] {
        let mut settings = worker_settings(&server.url(), "og", "w-bad", 1);
        settings.nats = with(&server.url(), Credentials::CredsFile(path));
        let err = within(omnigate_backend_fleet::serve(
            settings,
            vec![serving("m", EchoBackend::new())],
            async {},
        ))
        .await
        .unwrap_err();
        assert!(matches!(err, FleetError::Settings(_)), "{err}");
    }
}
