//! The gatekeeper over a store that can be switched off: the outage policies, reconciliation
//! once the store is back, team limits shared by keys, and logs that never carry a secret.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use super::test_store::{SwitchableStore, key};
use super::*;

fn gatekeeper(
    store: Arc<SwitchableStore>,
    keys: Vec<KeyRecord>,
    teams: HashMap<String, TeamPolicy>,
    policy: StorePolicy,
) -> Gatekeeper {
    Gatekeeper::new(
        store,
        Settings {
            config_keys: keys,
            teams,
            prices: HashMap::from([(
                "m".to_owned(),
                Prices {
                    prompt_per_1k_tokens: 1.0,
                    ..Prices::default()
                },
            )]),
            policy,
            store_timeout: Duration::from_millis(200),
            key_cache: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            quota_lease: None,
        },
    )
}

fn rpm(n: u64) -> Limits {
    Limits {
        requests_per_minute: Some(n),
        ..Limits::default()
    }
}

fn used(prompt_tokens: u64) -> Used {
    Used {
        prompt_tokens,
        tokens_reported: true,
        ..Used::default()
    }
}

#[tokio::test(start_paused = true)]
async fn fail_open_counts_locally_and_reconciles_usage_once_the_store_is_back() {
    let store = Arc::new(SwitchableStore::default());
    let gate = gatekeeper(
        Arc::clone(&store),
        vec![key("k", "sk-og-k", None, rpm(2))],
        HashMap::new(),
        StorePolicy::FailOpen,
    );
    let principal = gate.authenticate("sk-og-k").await.unwrap();
    store.down.store(true, Ordering::SeqCst);
    let first = gate
        .admit(&principal, "m", Charge::default())
        .await
        .unwrap();
    assert!(first.degraded, "counted locally");
    gate.settle(first, used(1000));
    let second = gate
        .admit(&principal, "m", Charge::default())
        .await
        .unwrap();
    gate.settle(second, used(1000));
    // The local window holds the limit during the outage.
    assert!(matches!(
        gate.admit(&principal, "m", Charge::default()).await,
        Err(Denial::Limited(Refusal::Window { .. }))
    ));
    assert!(gate.store_down());
    // Back: once the gatekeeper asks the store again, the next settlement writes what was
    // kept, and the report has all of it.
    store.down.store(false, Ordering::SeqCst);
    tokio::time::advance(RETRY_STORE_AFTER).await;
    let third = gate
        .admit(&principal, "m", Charge::default())
        .await
        .unwrap();
    assert!(!third.degraded);
    gate.settle(third, used(1000));
    gate.flush().await;
    let buckets = store.usage(Some("k"), 0, u64::MAX).await.unwrap();
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].totals.requests, 3);
    assert_eq!(buckets[0].totals.prompt_tokens, 3000);
    assert_eq!(buckets[0].totals.spend_micros, 3_000_000);
}

#[tokio::test(start_paused = true)]
async fn fail_closed_refuses_while_the_store_is_away() {
    let store = Arc::new(SwitchableStore::default());
    let gate = gatekeeper(
        Arc::clone(&store),
        vec![key("k", "sk-og-k", None, rpm(5))],
        HashMap::new(),
        StorePolicy::FailClosed,
    );
    let principal = gate.authenticate("sk-og-k").await.unwrap();
    store.down.store(true, Ordering::SeqCst);
    assert!(matches!(
        gate.admit(&principal, "m", Charge::default()).await,
        Err(Denial::StoreUnavailable)
    ));
    // A key only the store knows cannot be checked: refused as unavailable, not as invalid.
    assert!(matches!(
        gate.authenticate("sk-og-stored").await,
        Err(AuthError::StoreUnavailable)
    ));
    store.down.store(false, Ordering::SeqCst);
    // A store that just failed is left alone a moment: still refused, without asking it.
    assert!(matches!(
        gate.admit(&principal, "m", Charge::default()).await,
        Err(Denial::StoreUnavailable)
    ));
    tokio::time::advance(RETRY_STORE_AFTER).await;
    assert!(gate.admit(&principal, "m", Charge::default()).await.is_ok());
}

#[tokio::test]
async fn a_teams_limit_is_shared_by_its_keys() {
    let store = Arc::new(SwitchableStore::default());
    let teams = HashMap::from([(
        "blue".to_owned(),
        TeamPolicy {
            limits: rpm(3),
            budget: None,
        },
    )]);
    let gate = gatekeeper(
        store,
        vec![
            key("a", "sk-og-a", Some("blue"), Limits::default()),
            key("b", "sk-og-b", Some("blue"), Limits::default()),
        ],
        teams,
        StorePolicy::FailOpen,
    );
    let a = gate.authenticate("sk-og-a").await.unwrap();
    let b = gate.authenticate("sk-og-b").await.unwrap();
    let mut admitted = 0;
    for principal in [&a, &b, &a, &b, &a] {
        if gate.admit(principal, "m", Charge::default()).await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3);
}
