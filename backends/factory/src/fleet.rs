//! `kind = "fleet"`: workers that dial out to NATS and serve the model; and the NATS settings a
//! worker (`omnigate worker`) connects with, mapped from the same config table.

use std::sync::Arc;
use std::time::Duration;

use omnigate_backend::{BuildError, Capabilities};
use omnigate_backend_fleet::{Credentials, FleetBackend, FleetSettings, NatsSettings};
use omnigate_config::{FleetDeployment, NatsConfig};

use crate::{Built, Location};

/// Connects to the fleet's NATS (a gateway may start before NATS: calls then fail fast, as
/// unavailable, until it answers). Workers come and go, so the backend serves what the model's
/// config declares.
pub(crate) async fn build(
    at: &Location<'_>,
    declared: Capabilities,
    deployment: &FleetDeployment,
) -> Result<Built, BuildError> {
    let nats =
        nats_settings(&deployment.nats, &at.key, "omnigate-gateway").map_err(|e| at.error(e))?;
    let model = deployment
        .model
        .clone()
        .unwrap_or_else(|| at.model.to_owned());
    let settings = FleetSettings {
        nats,
        subject_prefix: deployment.nats.subject_prefix.clone(),
        model: model.clone(),
        capabilities: declared,
        per_try_timeout: Duration::from_secs_f64(deployment.timeout_secs),
    };
    let backend = FleetBackend::connect(settings)
        .await
        .map_err(|e| at.error(e.to_string()))?;
    Ok(Built {
        backend: Arc::new(backend),
        upstream_model: model,
    })
}

/// The NATS connection settings of a config table (`key` names it in errors; `name` is the
/// client name the server shows).
pub fn nats_settings(nats: &NatsConfig, key: &str, name: &str) -> Result<NatsSettings, String> {
    let secret = |field: &str, value: &omnigate_config::SecretRef| {
        value
            .resolve(&format!("{key}.{field}"))
            .map(omnigate_config::Secret::into_inner)
            .map_err(|e| e.to_string())
    };
    let credentials = if let (Some(user), Some(password)) = (&nats.user, &nats.password) {
        Credentials::UserPassword {
            user: user.clone(),
            password: secret("password", password)?,
        }
    } else if let Some(token) = &nats.token {
        Credentials::Token(secret("token", token)?)
    } else if let Some(path) = &nats.creds_file {
        Credentials::CredsFile(path.clone())
    } else if let Some(seed) = &nats.nkey_seed {
        Credentials::NKeySeed(secret("nkey_seed", seed)?)
    } else {
        Credentials::None
    };
    Ok(NatsSettings {
        url: nats.nats_url.clone(),
        credentials,
        tls_required: nats.tls_required,
        root_certificate: nats.root_certificate.clone(),
        connect_timeout: Duration::from_secs_f64(nats.connect_timeout_secs),
        name: name.to_owned(),
    })
}
