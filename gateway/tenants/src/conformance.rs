//! What every [`TenantStore`] must do, as one suite run on each store (in memory and on a real
//! redis-server). Time is passed in (`now_ms`), so the windows are tested to the millisecond
//! without waiting.

use crate::key::{KeyRecord, KeySource, SecretHash};
use crate::limits::Dimension;
use crate::store::{
    Admission, BudgetCheck, ConcurrencyCheck, Correction, Refusal, Scope, Settlement, Spend,
    TenantStore, Verdict, WindowCheck,
};
use crate::usage::UsageRecord;

/// Every test, on `store` (which must start empty).
pub async fn run_all(store: &dyn TenantStore) {
    store.ping().await.unwrap();
    a_window_admits_exactly_its_limit_in_any_sixty_seconds(store).await;
    a_refusal_charges_nothing(store).await;
    a_request_larger_than_the_limit_never_fits(store).await;
    a_correction_replaces_the_estimate(store).await;
    concurrency_is_released_and_leases_expire(store).await;
    a_spent_budget_refuses(store).await;
    usage_is_bucketed_by_hour_and_key(store).await;
    keys_are_found_by_digest_replaced_and_deleted(store).await;
    a_batch_settles_like_its_requests_one_by_one(store).await;
    usage_older_than_the_retention_is_dropped(store).await;
}

fn admission(id: &str, now_ms: u64, windows: Vec<WindowCheck>) -> Admission {
    Admission {
        request_id: id.to_owned(),
        now_ms: Some(now_ms),
        windows,
        concurrency: Vec::new(),
        lease_ms: 60_000,
        budgets: Vec::new(),
    }
}

fn requests(scope: &Scope, limit: u64) -> WindowCheck {
    WindowCheck {
        scope: scope.clone(),
        dimension: Dimension::Requests,
        limit,
        amount: 1,
    }
}

fn settlement(id: &str) -> Settlement {
    Settlement {
        request_id: id.to_owned(),
        corrections: Vec::new(),
        releases: Vec::new(),
        spend: Vec::new(),
        usage: Some(UsageRecord {
            key_id: "none".into(),
            model: "m".into(),
            ..UsageRecord::default()
        }),
    }
}

async fn a_window_admits_exactly_its_limit_in_any_sixty_seconds(store: &dyn TenantStore) {
    let scope = Scope::key("window");
    let t0 = 1_000_000_000;
    for i in 0..3 {
        let verdict = store
            .admit(&admission(
                &format!("w{i}"),
                t0 + i * 1000,
                vec![requests(&scope, 3)],
            ))
            .await
            .unwrap();
        let Verdict::Admitted { windows, .. } = verdict else {
            panic!("request {i} refused: {verdict:?}")
        };
        assert_eq!(windows[0].remaining, 2 - i);
        assert_eq!(windows[0].limit, 3);
        // The oldest charge (at t0) leaves at t0 + 60 s.
        assert_eq!(windows[0].reset_ms, 60_000 - i * 1000);
    }
    let verdict = store
        .admit(&admission("w3", t0 + 30_000, vec![requests(&scope, 3)]))
        .await
        .unwrap();
    let Verdict::Refused(Refusal::Window {
        state,
        retry_after_ms,
    }) = verdict
    else {
        panic!("the fourth in a minute is refused: {verdict:?}")
    };
    assert_eq!(state.remaining, 0);
    assert_eq!(state.dimension, Dimension::Requests);
    assert_eq!(retry_after_ms, Some(30_000), "when the first leaves");
    // One millisecond before the first charge leaves: still full. At the moment it leaves: fits.
    let early = store
        .admit(&admission("w4", t0 + 59_999, vec![requests(&scope, 3)]))
        .await
        .unwrap();
    assert!(matches!(early, Verdict::Refused(_)), "{early:?}");
    let on_time = store
        .admit(&admission("w5", t0 + 60_000, vec![requests(&scope, 3)]))
        .await
        .unwrap();
    assert!(matches!(on_time, Verdict::Admitted { .. }), "{on_time:?}");
}

async fn a_refusal_charges_nothing(store: &dyn TenantStore) {
    let key = Scope::key("atomic");
    let team = Scope::team("atomic");
    let t0 = 2_000_000_000;
    // The team has room for 1, the key for 5: the second request is refused by the team, and the
    // key must not have been charged for it.
    for i in 0..4 {
        let _ = store
            .admit(&admission(
                &format!("a{i}"),
                t0 + i,
                vec![requests(&key, 5), requests(&team, 1)],
            ))
            .await
            .unwrap();
    }
    let verdict = store
        .admit(&admission("a-key-only", t0 + 10, vec![requests(&key, 5)]))
        .await
        .unwrap();
    let Verdict::Admitted { windows, .. } = verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(
        windows[0].remaining, 3,
        "only the admitted request was charged"
    );
}

async fn a_request_larger_than_the_limit_never_fits(store: &dyn TenantStore) {
    let scope = Scope::key("large");
    let check = WindowCheck {
        scope: scope.clone(),
        dimension: Dimension::Tokens,
        limit: 100,
        amount: 101,
    };
    let verdict = store
        .admit(&admission("l", 3_000_000_000, vec![check]))
        .await
        .unwrap();
    let Verdict::Refused(Refusal::Window { retry_after_ms, .. }) = verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(retry_after_ms, None);
}

async fn a_correction_replaces_the_estimate(store: &dyn TenantStore) {
    let scope = Scope::key("tokens");
    let t0 = 4_000_000_000;
    let tokens = |amount| WindowCheck {
        scope: scope.clone(),
        dimension: Dimension::Tokens,
        limit: 1000,
        amount,
    };
    let _ = store
        .admit(&admission("t1", t0, vec![tokens(800)]))
        .await
        .unwrap();
    let mut settle = settlement("t1");
    settle.corrections.push(Correction {
        scope: scope.clone(),
        dimension: Dimension::Tokens,
        amount: 100,
    });
    store.settle(&settle).await.unwrap();
    let verdict = store
        .admit(&admission("t2", t0 + 1, vec![tokens(850)]))
        .await
        .unwrap();
    let Verdict::Admitted { windows, .. } = verdict else {
        panic!("the estimate was corrected down: {verdict:?}")
    };
    assert_eq!(windows[0].remaining, 50);
    // More than fits: it must wait until the 100 (t0) leaves, not the 850 (t0 + 1).
    let verdict = store
        .admit(&admission("t3", t0 + 2, vec![tokens(100)]))
        .await
        .unwrap();
    let Verdict::Refused(Refusal::Window { retry_after_ms, .. }) = verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(retry_after_ms, Some(59_998));
}

async fn concurrency_is_released_and_leases_expire(store: &dyn TenantStore) {
    let scope = Scope::key("concurrent");
    let t0 = 5_000_000_000;
    let one = |id: &str, now_ms| {
        let mut a = admission(id, now_ms, Vec::new());
        a.concurrency.push(ConcurrencyCheck {
            scope: scope.clone(),
            limit: 2,
        });
        a.lease_ms = 10_000;
        a
    };
    assert!(matches!(
        store.admit(&one("c1", t0)).await.unwrap(),
        Verdict::Admitted { .. }
    ));
    assert!(matches!(
        store.admit(&one("c2", t0)).await.unwrap(),
        Verdict::Admitted { .. }
    ));
    let third = store.admit(&one("c3", t0)).await.unwrap();
    assert!(
        matches!(
            third,
            Verdict::Refused(Refusal::Concurrency { limit: 2, .. })
        ),
        "{third:?}"
    );
    let mut release = settlement("c1");
    release.releases.push(scope.clone());
    store.settle(&release).await.unwrap();
    assert!(matches!(
        store.admit(&one("c4", t0 + 1)).await.unwrap(),
        Verdict::Admitted { .. }
    ));
    // c2 and c4 were never released: their leases lapse after 10 s.
    assert!(matches!(
        store.admit(&one("c5", t0 + 2)).await.unwrap(),
        Verdict::Refused(_)
    ));
    assert!(matches!(
        store.admit(&one("c6", t0 + 10_001)).await.unwrap(),
        Verdict::Admitted { .. }
    ));
}

async fn a_spent_budget_refuses(store: &dyn TenantStore) {
    let scope = Scope::key("budget");
    let check = |hard| BudgetCheck {
        scope: scope.clone(),
        period: "2026-12".into(),
        hard_micros: hard,
    };
    let mut first = admission("b1", 6_000_000_000, Vec::new());
    first.budgets.push(check(Some(1_000)));
    let Verdict::Admitted { spent_micros, .. } = store.admit(&first).await.unwrap() else {
        panic!("nothing spent yet")
    };
    assert_eq!(spent_micros, vec![0]);
    let mut spend = settlement("b1");
    spend.spend.push(Spend {
        scope: scope.clone(),
        period: "2026-12".into(),
        micros: 1_000,
    });
    store.settle(&spend).await.unwrap();
    let verdict = store.admit(&first).await.unwrap();
    assert!(
        matches!(
            verdict,
            Verdict::Refused(Refusal::Budget {
                spent_micros: 1_000,
                hard_micros: 1_000,
                ..
            })
        ),
        "{verdict:?}"
    );
    // A soft budget only reads.
    let mut soft = admission("b2", 6_000_000_001, Vec::new());
    soft.budgets.push(check(None));
    let Verdict::Admitted { spent_micros, .. } = store.admit(&soft).await.unwrap() else {
        panic!("a soft budget never refuses")
    };
    assert_eq!(spent_micros, vec![1_000]);
    // Another period starts from zero.
    let mut next = admission("b3", 6_000_000_002, Vec::new());
    next.budgets.push(BudgetCheck {
        period: "2027-01".into(),
        ..check(Some(1_000))
    });
    assert!(matches!(
        store.admit(&next).await.unwrap(),
        Verdict::Admitted { .. }
    ));
}

async fn usage_is_bucketed_by_hour_and_key(store: &dyn TenantStore) {
    let record = |key: &str, at_secs, prompt_tokens| UsageRecord {
        key_id: key.into(),
        team: Some("blue".into()),
        model: "m".into(),
        at_secs,
        prompt_tokens,
        completion_tokens: 1,
        audio_ms: 500,
        spend_micros: 7,
        ..UsageRecord::default()
    };
    let hour = 1_796_353_200; // 2026-12-04T03:00Z
    let mut settle = settlement("u1");
    settle.usage = Some(record("usage-a", hour + 10, 5));
    store.settle(&settle).await.unwrap();
    settle.usage = Some(record("usage-a", hour + 20, 6));
    store.settle(&settle).await.unwrap();
    // A quota lease's correction is no request: it records no usage, alone or in a batch.
    let mut correction_only = settlement("u2");
    correction_only.usage = None;
    store.settle(&correction_only).await.unwrap();
    store.settle_many(&[correction_only]).await.unwrap();
    store
        .reconcile(&[], &[record("usage-b", hour + 3600, 1)])
        .await
        .unwrap();
    let all = store.usage(None, hour, hour + 7200).await.unwrap();
    let mine: Vec<_> = all
        .iter()
        .filter(|b| b.key_id.starts_with("usage-"))
        .collect();
    assert_eq!(mine.len(), 2, "{all:?}");
    assert_eq!(mine[0].key_id, "usage-a");
    assert_eq!(mine[0].hour, hour);
    assert_eq!(mine[0].team, "blue");
    assert_eq!(mine[0].totals.requests, 2);
    assert_eq!(mine[0].totals.prompt_tokens, 11);
    assert_eq!(mine[0].totals.audio_ms, 1000);
    assert_eq!(mine[0].totals.spend_micros, 14);
    assert_eq!(mine[1].hour, hour + 3600);
    let one = store
        .usage(Some("usage-b"), hour, hour + 7200)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    let before = store
        .usage(Some("usage-a"), hour + 3600, hour + 7200)
        .await
        .unwrap();
    assert!(before.is_empty(), "{before:?}");
}

async fn keys_are_found_by_digest_replaced_and_deleted(store: &dyn TenantStore) {
    let record = KeyRecord {
        id: "key_conformance".into(),
        name: "ci".into(),
        team: None,
        models: vec!["gpt-*".into()],
        limits: crate::Limits::default(),
        budget: None,
        metadata: [("owner".to_owned(), "ops".to_owned())].into(),
        expires_at: None,
        disabled: false,
        secret_hash: SecretHash::of("sk-og-one"),
        secret_hint: "-one".into(),
        created_at: 1,
        source: KeySource::Api,
    };
    store.put_key(&record).await.unwrap();
    let found = store
        .key_by_hash(&SecretHash::of("sk-og-one"))
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&record));
    assert_eq!(
        store.key("key_conformance").await.unwrap(),
        Some(record.clone())
    );
    // A new secret for the same key: the old one stops working.
    let rotated = KeyRecord {
        secret_hash: SecretHash::of("sk-og-two"),
        disabled: true,
        ..record.clone()
    };
    store.put_key(&rotated).await.unwrap();
    assert_eq!(
        store
            .key_by_hash(&SecretHash::of("sk-og-one"))
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .key_by_hash(&SecretHash::of("sk-og-two"))
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert!(
        store
            .keys()
            .await
            .unwrap()
            .iter()
            .any(|k| k.id == "key_conformance")
    );
    assert!(store.delete_key("key_conformance").await.unwrap());
    assert!(!store.delete_key("key_conformance").await.unwrap());
    assert_eq!(
        store
            .key_by_hash(&SecretHash::of("sk-og-two"))
            .await
            .unwrap(),
        None
    );
}

async fn a_batch_settles_like_its_requests_one_by_one(store: &dyn TenantStore) {
    let scope = Scope::key("batch");
    let t0 = 7_000_000_000;
    let tokens = WindowCheck {
        scope: scope.clone(),
        dimension: Dimension::Tokens,
        limit: 1000,
        amount: 400,
    };
    let mut leased = admission("m1", t0, vec![tokens.clone()]);
    leased.concurrency.push(ConcurrencyCheck {
        scope: scope.clone(),
        limit: 1,
    });
    assert!(matches!(
        store.admit(&leased).await.unwrap(),
        Verdict::Admitted { .. }
    ));
    let hour = 1_796_356_800;
    let settled = |id: &str, prompt_tokens| {
        let mut s = settlement(id);
        s.usage = Some(UsageRecord {
            key_id: "batch".into(),
            team: Some("green".into()),
            model: "m".into(),
            at_secs: hour + 5,
            prompt_tokens,
            spend_micros: 3,
            ..UsageRecord::default()
        });
        s.spend.push(Spend {
            scope: scope.clone(),
            period: "2026-12".into(),
            micros: 3,
        });
        s
    };
    let mut first = settled("m1", 10);
    first.corrections.push(Correction {
        scope: scope.clone(),
        dimension: Dimension::Tokens,
        amount: 10,
    });
    first.releases.push(scope.clone());
    let batch = [first, settled("m2", 20), settled("m3", 30)];
    store.settle_many(&batch).await.unwrap();
    let buckets = store.usage(Some("batch"), hour, hour + 3600).await.unwrap();
    assert_eq!(buckets.len(), 1, "{buckets:?}");
    assert_eq!(buckets[0].totals.requests, 3);
    assert_eq!(buckets[0].totals.prompt_tokens, 60);
    assert_eq!(buckets[0].team, "green");
    // The correction (400 → 10) and the release took effect: 990 tokens fit, and the slot is free.
    let mut after = admission(
        "m4",
        t0 + 1,
        vec![WindowCheck {
            amount: 990,
            ..tokens
        }],
    );
    after.concurrency.push(ConcurrencyCheck {
        scope: scope.clone(),
        limit: 1,
    });
    after.budgets.push(BudgetCheck {
        scope,
        period: "2026-12".into(),
        hard_micros: None,
    });
    let Verdict::Admitted { spent_micros, .. } = store.admit(&after).await.unwrap() else {
        panic!("the batch's correction and release were not applied")
    };
    assert_eq!(spent_micros, vec![9], "the batch's spend was summed");
}

async fn usage_older_than_the_retention_is_dropped(store: &dyn TenantStore) {
    let record = |at_secs| UsageRecord {
        key_id: "retained".into(),
        model: "m".into(),
        at_secs,
        prompt_tokens: 1,
        ..UsageRecord::default()
    };
    // Later than every other test's hours, so that writing it prunes only this test's bucket.
    let hour = 1_800_000_000;
    let old = hour - crate::usage::USAGE_RETENTION_SECS - 3600;
    store.reconcile(&[], &[record(old)]).await.unwrap();
    assert_eq!(
        store
            .usage(Some("retained"), old, old + 3600)
            .await
            .unwrap()
            .len(),
        1
    );
    // A bucket written more than the retention later drops it.
    store.reconcile(&[], &[record(hour)]).await.unwrap();
    assert!(
        store
            .usage(Some("retained"), old, old + 3600)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .usage(Some("retained"), hour, hour + 3600)
            .await
            .unwrap()
            .len(),
        1
    );
}
