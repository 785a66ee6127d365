//! Active health probes: each deployment with `health_interval_secs` is probed (its backend's
//! `health()`, within the readiness timeout) that often, for as long as the server runs. A
//! failed probe takes it out of rotation before a client request has to fail on it; a successful
//! one brings an ejected deployment back at once.

use crate::registry::Registry;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The running probes; dropping this stops them.
pub struct Probes(Vec<JoinHandle<()>>);

impl Drop for Probes {
    fn drop(&mut self) {
        for probe in &self.0 {
            probe.abort();
        }
    }
}

/// Starts one probe task per deployment that asked for one.
pub fn spawn(registry: &Registry, timeout: std::time::Duration) -> Probes {
    let mut tasks = Vec::new();
    for model in registry.iter() {
        for (index, deployment) in model.deployments().iter().enumerate() {
            let Some(interval) = deployment.probe_interval else {
                continue;
            };
            let model = Arc::clone(model);
            let backend = Arc::clone(&deployment.backend);
            let name = deployment.name.clone();
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let result = match tokio::time::timeout(timeout, backend.health()).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(err)) => Err(err.to_string()),
                        Err(_) => Err(format!("no answer within {timeout:?}")),
                    };
                    if let Err(err) = &result {
                        tracing::debug!(model = %model.name, deployment = %name, error = %err, "probe failed");
                    }
                    model.pool().probed(index, result);
                }
            }));
        }
    }
    Probes(tasks)
}
