//! How to reach NATS: the settings, their mapping onto async-nats options (credentials, TLS,
//! bounded connect), and the redaction that keeps secrets out of every message we write.

use crate::FleetError;
use async_nats::{Client, ConnectOptions};
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the NATS servers.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    /// `nats://host:port` (or `tls://`), or a comma-separated list of them.
    pub url: String,
    /// How to authenticate.
    pub credentials: Credentials,
    /// Refuse to talk to a server without TLS.
    pub tls_required: bool,
    /// A PEM file of extra root certificates to trust (a private CA).
    pub root_certificate: Option<PathBuf>,
    /// Longest wait for one connection to open.
    pub connect_timeout: Duration,
    /// The client name the server shows (`nats server report connections`, monitoring).
    pub name: String,
}

/// How a client proves who it is. Secrets are redacted in `Debug` and zeroed when dropped.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// No authentication.
    None,
    /// A user name and password.
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: SecretString,
    },
    /// A token.
    Token(SecretString),
    /// A `.creds` file (user JWT and NKey seed), as `nsc` writes it.
    CredsFile(PathBuf),
    /// An NKey seed (`SU...`).
    NKeySeed(SecretString),
}

/// Whether a connect waits for the server or returns at once and keeps trying in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dial {
    /// One bounded try: an error when no server answers within the connect timeout.
    Once,
    /// Return at once; connect (and reconnect) in the background.
    KeepTrying,
}

impl NatsSettings {
    /// The server URLs, with any `user:password@` replaced by `***@`, for names and logs.
    pub fn redacted_url(&self) -> String {
        self.servers()
            .iter()
            .map(|s| redact_userinfo(s))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn servers(&self) -> Vec<String> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Every secret these settings hold, to scrub from messages that might echo one.
    fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = match &self.credentials {
            Credentials::None | Credentials::CredsFile(_) => Vec::new(),
            Credentials::UserPassword { password, .. } => {
                vec![password.expose_secret().to_owned()]
            }
            Credentials::Token(t) | Credentials::NKeySeed(t) => vec![t.expose_secret().to_owned()],
        };
        for server in self.servers() {
            if let Some(userinfo) = userinfo(&server) {
                secrets.extend(userinfo.split(':').map(str::to_owned));
                secrets.push(userinfo.to_owned());
            }
        }
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a secret containing another is scrubbed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets
    }

    /// `text` with every secret of these settings replaced by `[redacted]`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in self.secrets() {
            text = text.replace(&secret, "[redacted]");
        }
        text
    }
}

fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority.rsplit_once('@').map(|(info, _)| info)
}

fn redact_userinfo(url: &str) -> String {
    match userinfo(url) {
        Some(info) => url.replacen(&format!("{info}@"), "***@", 1),
        None => url.to_owned(),
    }
}

/// Connects with `settings`. With [`Dial::Once`] the whole try is bounded by the connect timeout
/// per server; with [`Dial::KeepTrying`] it returns at once (calls then find the client not
/// connected until it is).
pub(crate) async fn connect(settings: &NatsSettings, dial: Dial) -> Result<Client, FleetError> {
    let servers = settings.servers();
    if servers.is_empty() {
        return Err(FleetError::Settings("the NATS url is empty".to_owned()));
    }
    let mut options = ConnectOptions::new()
        .name(&settings.name)
        .connection_timeout(settings.connect_timeout)
        .require_tls(settings.tls_required)
        .event_callback(|event| async move {
            tracing::info!(target: "omnigate_fleet", %event, "NATS connection event");
        });
    if let Some(path) = &settings.root_certificate {
        if !path.is_file() {
            return Err(FleetError::Settings(format!(
                "root certificate {} is not a readable file",
                path.display()
            )));
        }
        options = options.add_root_certificates(path.clone());
    }
    options = match &settings.credentials {
        Credentials::None => options,
        Credentials::UserPassword { user, password } => {
            options.user_and_password(user.clone(), password.expose_secret().to_owned())
        }
        Credentials::Token(token) => options.token(token.expose_secret().to_owned()),
        Credentials::NKeySeed(seed) => {
            // Checked here, so a mistyped seed is a settings error at startup, not a connection
            // the gateway retries for ever. The error names neither the seed nor its parts.
            if nkeys::KeyPair::from_seed(seed.expose_secret()).is_err() {
                return Err(FleetError::Settings(
                    "the NKey seed is not a valid seed (expected one starting with `SU`)"
                        .to_owned(),
                ));
            }
            options.nkey(seed.expose_secret().to_owned())
        }
        Credentials::CredsFile(path) => {
            options.credentials_file(path).await.map_err(|e| {
                // The io error names the problem (not found, not a creds file), never the content.
                FleetError::Settings(settings.scrub(&format!(
                    "cannot use credentials file {}: {}",
                    path.display(),
                    e.kind()
                )))
            })?
        }
    };
    let connect_error = |reason: String| FleetError::Connect {
        url: settings.redacted_url(),
        reason: settings.scrub(&reason),
    };
    match dial {
        Dial::KeepTrying => options
            .retry_on_initial_connect()
            .connect(servers)
            .await
            .map_err(|e| connect_error(error_chain(&e))),
        Dial::Once => {
            let count = u32::try_from(servers.len()).unwrap_or(u32::MAX);
            let bound = settings.connect_timeout.saturating_mul(count) + Duration::from_secs(1);
            match tokio::time::timeout(bound, options.connect(servers)).await {
                Ok(result) => result.map_err(|e| connect_error(error_chain(&e))),
                Err(_) => Err(connect_error(format!(
                    "no server answered within {bound:?}"
                ))),
            }
        }
    }
}

/// An error and its sources, joined (async-nats puts the useful part in the source).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}

/// Whether the client is connected now.
pub(crate) fn is_connected(client: &Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, credentials: Credentials) -> NatsSettings {
        NatsSettings {
            url: url.to_owned(),
            credentials,
            tls_required: false,
            root_certificate: None,
            connect_timeout: Duration::from_secs(1),
            name: "test".to_owned(),
        }
    }

    #[test]
    fn user_info_and_secrets_never_show() {
        let s = settings(
            "nats://alice:hunter2@10.0.0.1:4222, nats://10.0.0.2:4222",
            Credentials::Token("tok-123".to_owned().into()),
        );
        assert_eq!(
            s.redacted_url(),
            "nats://***@10.0.0.1:4222,nats://10.0.0.2:4222"
        );
        let scrubbed = s.scrub("auth failed for alice:hunter2 with tok-123");
        assert!(!scrubbed.contains("hunter2") && !scrubbed.contains("tok-123"));
        assert!(!format!("{s:?}").contains("tok-123"));
    }

    #[tokio::test]
    async fn an_empty_url_or_a_missing_certificate_is_a_settings_error() {
        let err = connect(&settings(" , ", Credentials::None), Dial::Once)
            .await
            .unwrap_err();
        assert!(matches!(err, FleetError::Settings(_)), "{err}");
        let mut s = settings("nats://127.0.0.1:1", Credentials::None);
        s.root_certificate = Some("/nonexistent/ca.pem".into());
        let err = connect(&s, Dial::Once).await.unwrap_err();
        assert!(matches!(err, FleetError::Settings(_)), "{err}");
    }
}
