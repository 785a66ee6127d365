//! The gatekeeper's side of quota leases (see [`crate::lease`]): taking a block of room from the
//! store for a key, taking the next one while the current one still has room, and handing back
//! what a lease did not use.

use super::{Declared, Denial, Gatekeeper, Message, Ticket, push_windows};
use crate::key::KeyRecord;
use crate::lease::{Block, Lease, Leases, Taken, bit};
use crate::limits::{Charge, Dimension};
use crate::store::{Admission, Refusal, Verdict, WindowCheck};
use std::sync::Arc;

impl Gatekeeper {
    /// Admits a key with only window limits: from its open quota lease when that has room,
    /// else by taking a new lease from the store (one request at a time per key; the others wait
    /// for it), else (room unknown or scarce, or the store refused the block) as one request.
    pub(super) async fn admit_leased(
        &self,
        leases: &Leases,
        declared: &Arc<Declared>,
        admission: Admission,
        ticket: Ticket,
    ) -> Result<Ticket, Denial> {
        let key = Arc::clone(&ticket.key);
        let key_id = key.id.as_str();
        if leases.extra_requests(key_id, &admission.windows) > 0 {
            let acquiring = leases.acquiring(key_id);
            let _one_at_a_time = acquiring.lock().await;
            // Whoever held the lock may have opened a lease with room for this request too.
            if let Some((taken, _)) = leases.take(&key, declared, &ticket.charge) {
                return Ok(ticket.leased(taken));
            }
            if let Some(taken) = self
                .open_lease(
                    leases,
                    declared,
                    &key,
                    &admission.windows,
                    Block::WithThisRequest,
                )
                .await
            {
                return Ok(ticket.leased(taken));
            }
        }
        let mut ticket = ticket;
        match self.admit_in_store(&admission, &mut ticket).await? {
            Verdict::Admitted { windows, .. } => {
                if !ticket.degraded {
                    leases.learn(key_id, &windows);
                }
                ticket.windows = windows;
                Ok(ticket)
            }
            Verdict::Refused(refusal) => {
                if let Refusal::Window { state, .. } = &refusal
                    && !ticket.degraded
                {
                    leases.learn(key_id, std::slice::from_ref(state));
                }
                Err(Denial::Limited(refusal))
            }
        }
    }

    /// Takes the key's next lease while its current one still has room (a request admitted
    /// from it found it half used), so that requests do not wait for the store when it runs
    /// out. Nothing happens if another request of the key is already asking.
    pub(super) async fn refill_lease(
        &self,
        leases: &Leases,
        declared: &Arc<Declared>,
        key: &Arc<KeyRecord>,
        charge: &Charge,
    ) {
        let acquiring = leases.acquiring(&key.id);
        let Ok(_one_at_a_time) = acquiring.try_lock() else {
            return;
        };
        let mut windows = Vec::new();
        for (scope, limits, _) in declared.scopes(key) {
            push_windows(&mut windows, &scope.scope(), limits, charge);
        }
        let _ = self
            .open_lease(leases, declared, key, &windows, Block::Ahead)
            .await;
    }

    /// Asks the store for a block of room shaped like one request's `windows` (their amounts
    /// times the block's requests); on success opens a lease over it, whose room, for
    /// [`Block::WithThisRequest`], is first taken by the request that asked.
    async fn open_lease(
        &self,
        leases: &Leases,
        declared: &Arc<Declared>,
        key: &Arc<KeyRecord>,
        windows: &[WindowCheck],
        block: Block,
    ) -> Option<Taken> {
        let extra = leases.extra_requests(&key.id, windows);
        let requests = match block {
            Block::WithThisRequest => extra + 1,
            Block::Ahead => extra,
        };
        if extra == 0 {
            return None;
        }
        let granted: Vec<u64> = windows
            .iter()
            .map(|w| w.amount.saturating_mul(requests))
            .collect();
        // Windows only: a key with concurrency caps or budgets is never leased.
        let asked = Admission {
            request_id: self.next_id(),
            now_ms: None,
            windows: windows
                .iter()
                .zip(&granted)
                .map(|(w, &amount)| WindowCheck {
                    amount,
                    ..w.clone()
                })
                .collect(),
            concurrency: Vec::new(),
            lease_ms: self.lease.as_millis() as u64,
            budgets: Vec::new(),
        };
        match self.call(self.store.admit(&asked)).await {
            Ok(Verdict::Admitted {
                windows: states, ..
            }) => {
                let limited = declared
                    .scopes(key)
                    .flat_map(|(_, limits, _)| {
                        Dimension::ALL
                            .into_iter()
                            .filter(|&d| limits.per_minute(d).is_some())
                    })
                    .fold(0, |bits, d| bits | bit(d));
                let (taken, dropped) = leases.open(
                    key,
                    declared,
                    limited,
                    asked.request_id,
                    block,
                    windows,
                    &granted,
                    &states,
                );
                if let Some(dropped) = dropped {
                    self.close_lease(&dropped);
                }
                self.close_lease_when_it_expires(Arc::clone(&taken.0));
                Some(taken)
            }
            Ok(Verdict::Refused(Refusal::Window { state, .. })) => {
                leases.learn(&key.id, std::slice::from_ref(&state));
                None
            }
            // Refused for another reason, or the store is away: the request alone gets the
            // same answer (at once: a failed store is not asked again yet).
            Ok(Verdict::Refused(_)) | Err(_) => None,
        }
    }

    /// Hands a lease's unused room back to the store (through the settler).
    fn close_lease(&self, lease: &Lease) {
        if let Some(settlement) = lease.close() {
            self.settler().send(Message::Settle {
                settlement,
                degraded: false,
            });
        }
    }

    /// Closes `lease` once its time is up, unless it closed earlier.
    fn close_lease_when_it_expires(&self, lease: Arc<Lease>) {
        let settler = self.settler().clone();
        // The deadline is fixed now, not when the task first runs.
        let expires = lease.expires();
        tokio::spawn(async move {
            tokio::time::sleep_until(expires).await;
            if let Some(settlement) = lease.close() {
                settler.send(Message::Settle {
                    settlement,
                    degraded: false,
                });
            }
        });
    }
}
