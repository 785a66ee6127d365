//! [`RedisStore`] against a real `redis-server` started on a free loopback port for each test:
//! the conformance suite, two replicas sharing one window, and a server that dies and comes back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use super::RedisStore;
use crate::limits::Dimension;
use crate::store::{Admission, Scope, StoreError, TenantStore, Verdict, WindowCheck};
use omnigate_testkit::RedisServer as Server;
use omnigate_testkit::redis_server::free_port;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A prefix no other test shares (each has its own server too; this keeps the suite honest
/// about using the prefix).
fn prefix(test: &str) -> String {
    format!("omnigate-test:{test}:{}:", std::process::id())
}

fn requests(id: &str, scope: &Scope, limit: u64) -> Admission {
    Admission {
        request_id: id.to_owned(),
        // The server's clock, as the gatekeeper does.
        now_ms: None,
        windows: vec![WindowCheck {
            scope: scope.clone(),
            dimension: Dimension::Requests,
            limit,
            amount: 1,
        }],
        concurrency: Vec::new(),
        lease_ms: 60_000,
        budgets: Vec::new(),
    }
}

#[tokio::test]
async fn the_redis_store_passes_the_conformance_suite() {
    let server = Server::start();
    let store = RedisStore::connect(&server.url(), &prefix("conformance"))
        .await
        .unwrap();
    assert_eq!(store.name(), "redis");
    crate::conformance::run_all(&store).await;
}

#[tokio::test]
async fn two_replicas_count_one_window() {
    let server = Server::start();
    let prefix = prefix("replicas");
    let a = Arc::new(RedisStore::connect(&server.url(), &prefix).await.unwrap());
    let b = Arc::new(RedisStore::connect(&server.url(), &prefix).await.unwrap());
    let scope = Scope::key("shared");
    let mut admitted = 0;
    for i in 0..20 {
        let store = if i % 2 == 0 { &a } else { &b };
        let verdict = store
            .admit(&requests(&format!("r{i}"), &scope, 10))
            .await
            .unwrap();
        admitted += u32::from(matches!(verdict, Verdict::Admitted { .. }));
    }
    assert_eq!(admitted, 10, "one window of 10 across both replicas");

    // At once, from both: the scripts are atomic, so still exactly the limit.
    let scope = Scope::team("burst");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
        let admission = requests(&format!("burst{i}"), &scope, 25);
        tasks.spawn(async move { store.admit(&admission).await.unwrap() });
    }
    let mut admitted = 0;
    while let Some(verdict) = tasks.join_next().await {
        admitted += u32::from(matches!(verdict.unwrap(), Verdict::Admitted { .. }));
    }
    assert_eq!(admitted, 25);
}

#[tokio::test]
async fn idle_windows_and_leases_expire_and_spend_is_kept() {
    let server = Server::start();
    let prefix = prefix("ttl");
    let store = RedisStore::connect(&server.url(), &prefix).await.unwrap();
    let scope = Scope::key("ttl");
    let mut admission = requests("t1", &scope, 5);
    admission.concurrency.push(crate::store::ConcurrencyCheck {
        scope: scope.clone(),
        limit: 5,
    });
    admission.lease_ms = 30_000;
    assert!(matches!(
        store.admit(&admission).await.unwrap(),
        Verdict::Admitted { .. }
    ));
    store
        .reconcile(
            &[crate::store::Spend {
                scope: scope.clone(),
                period: "2026-12".into(),
                micros: 5,
            }],
            &[],
        )
        .await
        .unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    for (key, low, high) in [
        (format!("{prefix}win:requests:key:ttl"), 60_000, 61_000),
        (
            format!("{prefix}win-amount:requests:key:ttl"),
            60_000,
            61_000,
        ),
        (format!("{prefix}win-sum:requests:key:ttl"), 60_000, 61_000),
        (format!("{prefix}lease:key:ttl"), 30_000, 31_000),
    ] {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!((low..=high).contains(&ttl), "{key}: {ttl} ms");
    }
    let spend_ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}spend:key:ttl:2026-12"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(spend_ttl, -1, "spend is kept for its period");
}

#[tokio::test]
async fn a_dead_server_is_unavailable_at_once_and_a_restarted_one_is_used_again() {
    let server = Server::start();
    let port = server.port();
    let store = RedisStore::connect(&server.url(), &prefix("restart"))
        .await
        .unwrap();
    let scope = Scope::key("restart");
    assert!(matches!(
        store.admit(&requests("before", &scope, 2)).await.unwrap(),
        Verdict::Admitted { .. }
    ));

    drop(server);
    for attempt in 0..3 {
        let started = Instant::now();
        let answer = store.admit(&requests("dead", &scope, 2)).await;
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "attempt {attempt}: {answer:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "attempt {attempt} took {:?}",
            started.elapsed()
        );
    }
    assert!(store.ping().await.is_err());

    // The same port, a fresh (empty) server: the same store reconnects by itself.
    let _server = Server::start_on(port).expect("the port we just freed");
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        match store.admit(&requests("after0", &scope, 2)).await {
            Ok(verdict) => break verdict,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not reconnect within 10 s: {e}"),
        }
    };
    assert!(matches!(first, Verdict::Admitted { .. }), "{first:?}");
    assert!(matches!(
        store.admit(&requests("after1", &scope, 2)).await.unwrap(),
        Verdict::Admitted { .. }
    ));
    assert!(
        matches!(
            store.admit(&requests("after2", &scope, 2)).await.unwrap(),
            Verdict::Refused(_)
        ),
        "counting resumed on the new server"
    );
}

#[tokio::test]
async fn connecting_to_nothing_fails_quickly() {
    let port = free_port();
    let started = Instant::now();
    let answer = RedisStore::connect(&format!("redis://127.0.0.1:{port}"), "x:").await;
    assert!(
        matches!(answer, Err(StoreError::Unavailable(_))),
        "{answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let bad = RedisStore::connect("redis://:hunter2@[not-a-host", "x:").await;
    let Err(StoreError::Unavailable(message)) = bad else {
        panic!("{bad:?}")
    };
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn a_stalled_server_is_unavailable_within_the_timeout() {
    let server = Server::start();
    let timeout = Duration::from_millis(500);
    let store = RedisStore::connect_with_timeout(&server.url(), &prefix("stalled"), timeout)
        .await
        .unwrap();
    let scope = Scope::key("stalled");
    store.admit(&requests("s0", &scope, 5)).await.unwrap();
    // Frozen, not dead: the socket stays open and nothing answers.
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args([name, &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name}");
    };
    signal("-STOP");
    let started = Instant::now();
    let answer = store.admit(&requests("s1", &scope, 5)).await;
    let waited = started.elapsed();
    signal("-CONT");
    assert!(
        matches!(answer, Err(StoreError::Unavailable(_))),
        "{answer:?}"
    );
    assert!(waited < timeout + Duration::from_millis(500), "{waited:?}");
    // Thawed, it answers again; the stalled call may or may not have been applied.
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.admit(&requests("s2", &scope, 5)).await.is_ok());
}

#[test]
fn a_reply_that_does_not_fit_is_corrupt_not_a_panic() {
    let scope = Scope::key("reply");
    let mut admission = requests("x", &scope, 3);
    admission.budgets.push(crate::store::BudgetCheck {
        scope: scope.clone(),
        period: "total".into(),
        hard_micros: None,
    });
    let verdict = |reply: &[i64]| super::reply::verdict(&admission, reply);
    assert!(matches!(
        verdict(&[1, 2, 58_000, 7]),
        Ok(Verdict::Admitted { ref spent_micros, .. }) if spent_micros == &[7]
    ));
    assert!(matches!(
        verdict(&[2, 1, 0, 100, -1]),
        Ok(Verdict::Refused(crate::store::Refusal::Window {
            retry_after_ms: None,
            ..
        }))
    ));
    for bad in [
        &[][..],
        &[9],
        &[1, 2],
        &[1, -2, 0, 0],
        &[2, 2, 0, 0, 0],
        &[2, 0, 0, 0, 0],
        &[3, 1],
        // A soft budget cannot refuse.
        &[4, 1, 5],
    ] {
        assert!(
            matches!(verdict(bad), Err(StoreError::Corrupt(_))),
            "{bad:?}: {:?}",
            verdict(bad)
        );
    }
}

/// Many charges leaving at once and a long walk for the retry time cross the scripts' paging
/// (500 at a time): the verdicts must still be the memory store's, to the millisecond.
#[tokio::test]
async fn long_windows_page_and_agree_with_the_memory_store() {
    let server = Server::start();
    let redis = RedisStore::connect(&server.url(), &prefix("paging"))
        .await
        .unwrap();
    let memory = crate::MemoryStore::new();
    let scope = Scope::team("paging");
    let tokens = |id: String, now_ms: u64, amount: u64| Admission {
        now_ms: Some(now_ms),
        windows: vec![WindowCheck {
            scope: scope.clone(),
            dimension: Dimension::Tokens,
            limit: 1200,
            amount,
        }],
        ..requests(&id, &scope, 0)
    };
    let t0 = 7_000_000_000;
    let mut script: Vec<Admission> = (0..1200)
        .map(|i| tokens(format!("p{i}"), t0 + i, 1))
        .collect();
    // Full: 1100 must wait for the 1100th oldest charge (two pages into the walk).
    script.push(tokens("wait".into(), t0 + 5_000, 1100));
    // 700 charges have left: they go in one prune, and 700 fits exactly.
    script.push(tokens("after".into(), t0 + 60_699, 700));
    script.push(tokens("full".into(), t0 + 60_700, 2));
    for admission in &script {
        let expected = memory.admit(admission).await.unwrap();
        let got = redis.admit(admission).await.unwrap();
        assert_eq!(got, expected, "{}", admission.request_id);
        if admission.request_id == "wait" {
            let Verdict::Refused(crate::store::Refusal::Window { retry_after_ms, .. }) = got else {
                panic!("full: {got:?}")
            };
            // The 1100th oldest charge (at t0 + 1099) leaves at t0 + 61_099.
            assert_eq!(retry_after_ms, Some(1099 + 60_000 - 5_000));
        }
    }
}
