//! Quota leases: a replica takes room for several requests from the shared store in one
//! admission and admits the next requests of that key from it locally, so a limited key costs a
//! store round trip per block of requests rather than per request.
//!
//! Accuracy is kept by three rules. A lease is charged in the store's windows like any request
//! (under its own id, for the request's amounts times the block), so the store never grants
//! more than the limit across replicas. A block is sized from what the store said was left
//! (at most a quarter of it, at most `max_requests`), so near a limit blocks shrink to one
//! request and no replica sits on much room another needs. And a lease lives at most `ttl`:
//! then (or when two newer leases of the key push it out) it is closed, its charges corrected
//! down to what its requests used, so unused room goes back to every replica. Its requests count
//! from the lease's start, at most `ttl` earlier than their own: the window may let that much
//! slip at its edge, which is why `ttl` is short.
//!
//! The request that finds a lease half used takes the key's next lease (a [`Block::Ahead`])
//! while the rest of the current one is still being admitted, so that when it runs out the next
//! requests do not all wait for the store.
//!
//! Only windows are leased: a key with a concurrency cap or a budget is admitted by the store on
//! every request (a slot must be released, a budget is checked against the latest spend).

use crate::gatekeeper::keys::Declared;
use crate::key::KeyRecord;
use crate::limits::{Charge, Dimension};
use crate::store::{Correction, Scope, Settlement, WindowCheck, WindowState};
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// How leases are sized and how long they live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettings {
    /// Most requests one lease admits (the first included).
    pub max_requests: u64,
    /// Longest a lease admits before its unused room is handed back.
    pub ttl: Duration,
}

/// A block takes at most this share of what the store said was left.
const SHARE_OF_REMAINING: u64 = 4;

/// Leases a key holds at once: the one in use and the next, taken ahead.
const OPEN_PER_KEY: usize = 2;

/// What a block is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    /// For the request that asks, and the next ones.
    WithThisRequest,
    /// For the next requests only: taken while the current lease still has room.
    Ahead,
}

/// One window a lease holds room in.
#[derive(Debug)]
struct LeasedWindow {
    scope: Scope,
    dimension: Dimension,
    limit: u64,
    /// Charged in the store under the lease's id.
    granted: u64,
    /// Taken by requests so far (their real amounts once they settled).
    used: u64,
    /// What the store had left after charging the lease.
    remaining_at_grant: u64,
    /// When the store's oldest charge leaves the window, as of the grant.
    reset_at: Instant,
}

impl LeasedWindow {
    fn available(&self) -> u64 {
        self.granted.saturating_sub(self.used)
    }
}

/// The dimensions a request of `charge` is checked in, among those `limited`, as a bit set:
/// requests always, the others when the request has some of them.
fn checked(limited: u8, charge: &Charge) -> u8 {
    Dimension::ALL
        .into_iter()
        .filter(|&d| d == Dimension::Requests || charge.amount(d) > 0)
        .fold(0, |bits, d| bits | bit(d))
        & limited
}

/// A dimension's bit in a set.
pub(crate) fn bit(dimension: Dimension) -> u8 {
    1 << dimension as u8
}

/// Room for several requests, charged in the store under `id`.
pub(crate) struct Lease {
    id: String,
    expires: Instant,
    /// The key and the config it was taken under: a reload or a changed key (other limits)
    /// ends its use. Held, so the identity cannot be reused by a new allocation.
    key: Arc<KeyRecord>,
    declared: Arc<Declared>,
    /// Dimensions the key or its team limit...
    limited: u8,
    /// ...and those its windows hold: a request is admitted from it only if it is checked in
    /// exactly these.
    holds: u8,
    /// Set once a request found it half used and asked for the next lease.
    refill_asked: AtomicBool,
    state: Mutex<LeaseState>,
}

#[derive(Debug)]
struct LeaseState {
    windows: Vec<LeasedWindow>,
    closed: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .field("key", &self.key.id)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// When it stops admitting.
    pub(crate) fn expires(&self) -> Instant {
        self.expires
    }

    fn lock(&self) -> MutexGuard<'_, LeaseState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a request of `charge` from the lease if it was taken for this key under this
    /// config, the request is checked in the windows it holds, and each has room; the windows'
    /// state after (the store's remaining plus what is left of the lease), and whether this
    /// request is the first to find it half used (it then asks for the next one).
    fn take(
        &self,
        key: &Arc<KeyRecord>,
        declared: &Arc<Declared>,
        charge: &Charge,
        now: Instant,
    ) -> Option<(Vec<WindowState>, bool)> {
        if now >= self.expires
            || !Arc::ptr_eq(&self.key, key)
            || !Arc::ptr_eq(&self.declared, declared)
            || checked(self.limited, charge) != self.holds
        {
            return None;
        }
        let mut state = self.lock();
        if state.closed
            || state
                .windows
                .iter()
                .any(|w| w.available() < charge.amount(w.dimension))
        {
            return None;
        }
        let after: Vec<WindowState> = state
            .windows
            .iter_mut()
            .map(|window| {
                window.used += charge.amount(window.dimension);
                WindowState {
                    scope: window.scope.clone(),
                    dimension: window.dimension,
                    limit: window.limit,
                    remaining: window.remaining_at_grant + window.available(),
                    reset_ms: window.reset_at.saturating_duration_since(now).as_millis() as u64,
                }
            })
            .collect();
        let half_used = state
            .windows
            .iter()
            .any(|w| w.available().saturating_mul(2) <= w.granted);
        let refill = half_used && !self.refill_asked.swap(true, Ordering::Relaxed);
        Some((after, refill))
    }

    /// Stops admitting and writes its charges as what its requests used: unused room goes
    /// back, and tokens its requests reported beyond their estimates (more than it was granted)
    /// are added. The corrections to write, if any charge changes.
    pub(crate) fn close(&self) -> Option<Settlement> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        state.closed = true;
        let corrections: Vec<Correction> = state
            .windows
            .iter_mut()
            .filter(|w| w.used != w.granted)
            .map(|w| {
                w.granted = w.used;
                Correction {
                    scope: w.scope.clone(),
                    dimension: w.dimension,
                    amount: w.used,
                }
            })
            .collect();
        (!corrections.is_empty()).then(|| self.settlement(corrections))
    }

    /// A request admitted from this lease used `real` of `dimension` where `estimate` was
    /// taken: the lease's charge follows. While the lease is open that only changes what it
    /// has left; once closed, the corrected charge is written (returned here to send).
    pub(crate) fn reconcile(
        &self,
        dimension: Dimension,
        estimate: u64,
        real: u64,
    ) -> Option<Settlement> {
        if estimate == real {
            return None;
        }
        let mut state = self.lock();
        let closed = state.closed;
        let mut corrections = Vec::new();
        for window in state
            .windows
            .iter_mut()
            .filter(|w| w.dimension == dimension)
        {
            window.used = (window.used + real).saturating_sub(estimate);
            if closed {
                window.granted = window.used;
                corrections.push(Correction {
                    scope: window.scope.clone(),
                    dimension,
                    amount: window.used,
                });
            }
        }
        (!corrections.is_empty()).then(|| self.settlement(corrections))
    }

    fn settlement(&self, corrections: Vec<Correction>) -> Settlement {
        Settlement {
            request_id: self.id.clone(),
            corrections,
            releases: Vec::new(),
            spend: Vec::new(),
            usage: None,
        }
    }
}

/// Per key: its open leases (oldest first) and what the store last said was left.
#[derive(Default)]
struct Slot {
    open: Vec<Arc<Lease>>,
    /// (scope, dimension, limit) → remaining, from the last verdict.
    known: FxHashMap<(Scope, Dimension, u64), u64>,
    /// Held while one request of the key asks the store for a lease, so concurrent requests
    /// wait for it instead of each taking a lease of their own.
    acquiring: Arc<tokio::sync::Mutex<()>>,
}

impl Slot {
    fn learn(&mut self, states: &[WindowState]) {
        for state in states {
            self.known.insert(
                (state.scope.clone(), state.dimension, state.limit),
                state.remaining,
            );
        }
    }
}

/// Every key's leases in this process.
pub(crate) struct Leases {
    settings: LeaseSettings,
    slots: Mutex<FxHashMap<String, Slot>>,
}

/// A request admitted from a lease: the lease (to reconcile at settlement) and the windows'
/// state for the headers.
pub(crate) type Taken = (Arc<Lease>, Vec<WindowState>);

/// [`Taken`], and whether the request should ask for the key's next lease.
pub(crate) type TakenFast = (Taken, bool);

impl Leases {
    pub(crate) fn new(settings: LeaseSettings) -> Self {
        Self {
            settings,
            slots: Mutex::new(FxHashMap::default()),
        }
    }

    fn slots(&self) -> MutexGuard<'_, FxHashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a request of `charge` from the key's oldest open lease it fits in (see
    /// [`Lease`]).
    pub(crate) fn take(
        &self,
        key: &Arc<KeyRecord>,
        declared: &Arc<Declared>,
        charge: &Charge,
    ) -> Option<TakenFast> {
        let now = Instant::now();
        let slots = self.slots();
        slots.get(key.id.as_str())?.open.iter().find_map(|lease| {
            let (states, refill) = lease.take(key, declared, charge, now)?;
            Some(((Arc::clone(lease), states), refill))
        })
    }

    /// The lock a request holds while it asks the store for a lease for this key.
    pub(crate) fn acquiring(&self, key_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut slots = self.slots();
        let slot = slots.entry(key_id.to_owned()).or_default();
        Arc::clone(&slot.acquiring)
    }

    /// How many requests' worth of room beyond this one to ask for: 0 while the store's
    /// remaining room for any window is unknown or too small to share.
    pub(crate) fn extra_requests(&self, key_id: &str, checks: &[WindowCheck]) -> u64 {
        let slots = self.slots();
        let Some(slot) = slots.get(key_id) else {
            return 0;
        };
        let mut extra = self.settings.max_requests.saturating_sub(1);
        for check in checks {
            let key = (check.scope.clone(), check.dimension, check.limit);
            let Some(&remaining) = slot.known.get(&key) else {
                return 0;
            };
            if let Some(fits) = (remaining / SHARE_OF_REMAINING).checked_div(check.amount) {
                extra = extra.min(fits);
            }
        }
        extra
    }

    /// Notes what the store said was left (after any admission, leased or not, or a refusal).
    pub(crate) fn learn(&self, key_id: &str, states: &[WindowState]) {
        self.slots()
            .entry(key_id.to_owned())
            .or_default()
            .learn(states);
    }

    /// Opens a lease the store granted: `checks` as the request asked for them, `granted` the
    /// amounts charged for each (the block's requests), `states` the store's verdict. For
    /// [`Block::WithThisRequest`] the request that asked is admitted from it. Returns the lease,
    /// the windows' state after, and the key's oldest lease if it now had too many (to close).
    #[allow(
        clippy::too_many_arguments,
        reason = "what the store granted, and what the lease is valid for"
    )]
    pub(crate) fn open(
        &self,
        key: &Arc<KeyRecord>,
        declared: &Arc<Declared>,
        limited: u8,
        id: String,
        block: Block,
        checks: &[WindowCheck],
        granted: &[u64],
        states: &[WindowState],
    ) -> (Taken, Option<Arc<Lease>>) {
        let now = Instant::now();
        let windows: Vec<LeasedWindow> = checks
            .iter()
            .zip(granted)
            .zip(states)
            .map(|((check, &granted), state)| LeasedWindow {
                scope: check.scope.clone(),
                dimension: check.dimension,
                limit: check.limit,
                granted,
                used: match block {
                    Block::WithThisRequest => check.amount,
                    Block::Ahead => 0,
                },
                remaining_at_grant: state.remaining,
                reset_at: now + Duration::from_millis(state.reset_ms),
            })
            .collect();
        let after = windows
            .iter()
            .zip(states)
            .map(|(window, state)| WindowState {
                remaining: state.remaining + window.available(),
                ..state.clone()
            })
            .collect();
        let lease = Arc::new(Lease {
            id,
            expires: now + self.settings.ttl,
            key: Arc::clone(key),
            declared: Arc::clone(declared),
            limited,
            holds: checks.iter().fold(0, |bits, c| bits | bit(c.dimension)),
            refill_asked: AtomicBool::new(false),
            state: Mutex::new(LeaseState {
                windows,
                closed: false,
            }),
        });
        let mut slots = self.slots();
        let slot = slots.entry(key.id.clone()).or_default();
        slot.learn(states);
        slot.open.push(Arc::clone(&lease));
        let dropped = (slot.open.len() > OPEN_PER_KEY).then(|| slot.open.remove(0));
        ((lease, after), dropped)
    }
}
