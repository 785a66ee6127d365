//! Quota leases through the gatekeeper: round trips saved, the headers a lone replica would
//! show without them, replicas sharing one store never granting more than the limit, unused
//! room handed back when a lease ends, and token estimates reconciled through the lease.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use super::test_store::{SwitchableStore, key};
use super::*;

const SECRET: &str = "sk-og-leased";
const TTL: Duration = Duration::from_millis(250);

/// A replica: its own gatekeeper (and leases) over the shared `store`.
fn replica(store: &Arc<SwitchableStore>, limits: Limits, max_requests: u64) -> Gatekeeper {
    let key = key("k", SECRET, None, limits);
    let store: Arc<dyn TenantStore> = Arc::clone(store) as _;
    Gatekeeper::new(
        store,
        Settings {
            config_keys: vec![key],
            teams: HashMap::new(),
            prices: HashMap::new(),
            policy: StorePolicy::FailClosed,
            store_timeout: Duration::from_millis(200),
            key_cache: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            quota_lease: Some(LeaseSettings {
                max_requests,
                ttl: TTL,
            }),
        },
    )
}

fn limits(requests: u64, tokens: Option<u64>) -> Limits {
    Limits {
        requests_per_minute: Some(requests),
        tokens_per_minute: tokens,
        ..Limits::default()
    }
}

fn charge(tokens: u64) -> Charge {
    Charge {
        tokens,
        ..Charge::default()
    }
}

/// What a request used, as its answer reported it.
fn used(tokens: u64) -> Used {
    Used {
        prompt_tokens: tokens,
        tokens_reported: true,
        ..Used::default()
    }
}

fn remaining(ticket: &Ticket, dimension: Dimension) -> u64 {
    ticket
        .windows
        .iter()
        .find(|w| w.dimension == dimension)
        .unwrap()
        .remaining
}

#[tokio::test(start_paused = true)]
async fn a_lone_replica_asks_once_a_block_and_shows_the_same_headers() {
    let store = Arc::new(SwitchableStore::default());
    let gate = replica(&store, limits(1000, None), 8);
    let principal = gate.authenticate(SECRET).await.unwrap();
    for i in 0..41u64 {
        let ticket = gate.admit(&principal, "m", charge(0)).await.unwrap();
        // Exactly what asking the store every time would show.
        assert_eq!(remaining(&ticket, Dimension::Requests), 1000 - i - 1);
        gate.settle(ticket, Used::default());
    }
    // The first request learns the room and the second takes a block of 8; from then on the
    // request that finds a block half used takes the next block of 7 (8 less its own share):
    // blocks 2..7 at requests 5, 13, 20, 27, 34 and 41.
    assert_eq!(store.admits.load(Ordering::SeqCst), 1 + 1 + 6);
}

#[tokio::test(start_paused = true)]
async fn replicas_sharing_a_store_never_admit_more_than_the_limit() {
    let store = Arc::new(SwitchableStore::default());
    let replicas: Vec<Gatekeeper> = (0..3)
        .map(|_| replica(&store, limits(100, None), 16))
        .collect();
    let mut principals = Vec::new();
    for gate in &replicas {
        principals.push(gate.authenticate(SECRET).await.unwrap());
    }
    let mut admitted = 0;
    let mut round_trips_to_fill = 0;
    for round in 0..200 {
        // Uneven traffic: the third replica gets a request every third round only.
        for (i, (gate, principal)) in replicas.iter().zip(&principals).enumerate() {
            if i == 2 && round % 3 != 0 {
                continue;
            }
            if gate.admit(principal, "m", charge(0)).await.is_ok() {
                admitted += 1;
                round_trips_to_fill = store.admits.load(Ordering::SeqCst);
            }
        }
    }
    assert_eq!(admitted, 100, "every request of the limit, not one more");
    assert!(
        round_trips_to_fill < 50,
        "leases saved round trips: {round_trips_to_fill} for 100 requests"
    );
}

#[tokio::test(start_paused = true)]
async fn unused_room_goes_back_when_a_lease_ends() {
    let store = Arc::new(SwitchableStore::default());
    let idle = replica(&store, limits(20, None), 8);
    let busy = replica(&store, limits(20, None), 8);
    let p_idle = idle.authenticate(SECRET).await.unwrap();
    let p_busy = busy.authenticate(SECRET).await.unwrap();
    // The idle replica learns the room (19 left), then leases 1 + 19/4 = 5 and uses one.
    for _ in 0..2 {
        idle.admit(&p_idle, "m", charge(0)).await.unwrap();
    }
    let mut taken = 0;
    while busy.admit(&p_busy, "m", charge(0)).await.is_ok() {
        taken += 1;
    }
    assert_eq!(
        taken, 14,
        "20 less the idle replica's two and its lease's unused four"
    );
    tokio::time::advance(TTL).await;
    // Let the lease's timer task run before the flush.
    tokio::task::yield_now().await;
    idle.flush().await;
    let mut more = 0;
    while busy.admit(&p_busy, "m", charge(0)).await.is_ok() {
        more += 1;
    }
    assert_eq!(more, 4, "the idle replica's unused room came back");
}

#[tokio::test(start_paused = true)]
async fn token_estimates_are_corrected_through_the_lease() {
    let store = Arc::new(SwitchableStore::default());
    let gate = replica(&store, limits(1000, Some(1000)), 8);
    let principal = gate.authenticate(SECRET).await.unwrap();
    let first = gate.admit(&principal, "m", charge(100)).await.unwrap();
    assert_eq!(remaining(&first, Dimension::Tokens), 900);
    // Room for 1 + 900/4/100 = 3 requests' estimates.
    let second = gate.admit(&principal, "m", charge(100)).await.unwrap();
    assert_eq!(remaining(&second, Dimension::Tokens), 800);
    // It used 10 of its 100: the lease has 90 more.
    gate.settle(second, used(10));
    let third = gate.admit(&principal, "m", charge(100)).await.unwrap();
    assert_eq!(remaining(&third, Dimension::Tokens), 790);
    // The lease ends: the store keeps 100 (first, unsettled) + 10 + 100 (third's estimate).
    tokio::time::advance(TTL).await;
    tokio::task::yield_now().await;
    gate.flush().await;
    let other = replica(&store, limits(1000, Some(1000)), 8);
    let p_other = other.authenticate(SECRET).await.unwrap();
    let probe = other.admit(&p_other, "m", charge(1)).await.unwrap();
    assert_eq!(remaining(&probe, Dimension::Tokens), 1000 - 210 - 1);
    // The third settles after its lease closed: its real 50 is written to the lease's charge.
    gate.settle(third, used(50));
    gate.flush().await;
    let probe = other.admit(&p_other, "m", charge(1)).await.unwrap();
    assert_eq!(remaining(&probe, Dimension::Tokens), 1000 - 160 - 2);
}

#[tokio::test(start_paused = true)]
async fn tokens_beyond_the_estimates_are_charged_when_the_lease_closes() {
    let store = Arc::new(SwitchableStore::default());
    let gate = replica(&store, limits(1000, Some(10_000)), 4);
    let principal = gate.authenticate(SECRET).await.unwrap();
    let _first = gate.admit(&principal, "m", charge(100)).await.unwrap();
    // A lease of 1 + 3 requests' estimates: 400 tokens.
    let second = gate.admit(&principal, "m", charge(100)).await.unwrap();
    // It used ten times its estimate: more than the whole lease was granted.
    gate.settle(second, used(1000));
    tokio::time::advance(TTL).await;
    tokio::task::yield_now().await;
    gate.flush().await;
    let other = replica(&store, limits(1000, Some(10_000)), 4);
    let p_other = other.authenticate(SECRET).await.unwrap();
    let probe = other.admit(&p_other, "m", charge(1)).await.unwrap();
    // The first's 100 (unsettled) and the second's real 1000, not the lease's 400.
    assert_eq!(
        remaining(&probe, Dimension::Tokens),
        10_000 - 100 - 1000 - 1
    );
}
