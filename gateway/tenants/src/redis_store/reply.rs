//! Reading the scripts' and commands' replies back into the store's types. A reply that does
//! not fit is [`StoreError::Corrupt`], never a panic.

use crate::key::KeyRecord;
use crate::store::{Admission, Refusal, StoreError, Verdict, WindowState};
use crate::usage::{Totals, UsageBucket};
use std::collections::HashMap;

/// A reply to `what` that is not what the script or command returns.
pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("unexpected reply to {what}"))
}

/// The reply's value at `index` (0 is the verdict's tag), as a count or amount.
fn at(reply: &[i64], index: usize, what: &str) -> Result<u64, StoreError> {
    reply
        .get(index)
        .and_then(|v| u64::try_from(*v).ok())
        .ok_or_else(|| corrupt(what))
}

/// The verdict `admit.lua` replied, with the names and limits taken from `admission`.
pub(super) fn verdict(admission: &Admission, reply: &[i64]) -> Result<Verdict, StoreError> {
    const WHAT: &str = "admit";
    // Which check refused, as the script counts them (from 1).
    let nth = |index: usize| -> Result<usize, StoreError> {
        let n = at(reply, index, WHAT)?;
        usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .ok_or_else(|| corrupt(WHAT))
    };
    match reply.first() {
        Some(1) => {
            let windows = admission
                .windows
                .iter()
                .enumerate()
                .map(|(i, check)| {
                    Ok(WindowState {
                        scope: check.scope.clone(),
                        dimension: check.dimension,
                        limit: check.limit,
                        remaining: at(reply, 1 + 2 * i, WHAT)?,
                        reset_ms: at(reply, 2 + 2 * i, WHAT)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let base = 1 + 2 * admission.windows.len();
            let spent_micros = (0..admission.budgets.len())
                .map(|k| at(reply, base + k, WHAT))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Verdict::Admitted {
                windows,
                spent_micros,
            })
        }
        Some(2) => {
            let check = admission
                .windows
                .get(nth(1)?)
                .ok_or_else(|| corrupt(WHAT))?;
            let retry = reply.get(4).copied().ok_or_else(|| corrupt(WHAT))?;
            Ok(Verdict::Refused(Refusal::Window {
                state: WindowState {
                    scope: check.scope.clone(),
                    dimension: check.dimension,
                    limit: check.limit,
                    remaining: at(reply, 2, WHAT)?,
                    reset_ms: at(reply, 3, WHAT)?,
                },
                retry_after_ms: u64::try_from(retry).ok(),
            }))
        }
        Some(3) => {
            let check = admission
                .concurrency
                .get(nth(1)?)
                .ok_or_else(|| corrupt(WHAT))?;
            Ok(Verdict::Refused(Refusal::Concurrency {
                scope: check.scope.clone(),
                limit: check.limit,
            }))
        }
        Some(4) => {
            let check = admission
                .budgets
                .get(nth(1)?)
                .ok_or_else(|| corrupt(WHAT))?;
            Ok(Verdict::Refused(Refusal::Budget {
                scope: check.scope.clone(),
                spent_micros: at(reply, 2, WHAT)?,
                hard_micros: check.hard_micros.ok_or_else(|| corrupt(WHAT))?,
            }))
        }
        _ => Err(corrupt(WHAT)),
    }
}

/// A usage bucket from its hash; `None` for one that vanished between the index and the read.
pub(super) fn bucket(fields: &HashMap<String, String>) -> Result<Option<UsageBucket>, StoreError> {
    const WHAT: &str = "usage";
    if fields.is_empty() {
        return Ok(None);
    }
    let text = |name: &str| fields.get(name).cloned().ok_or_else(|| corrupt(WHAT));
    let number = |name: &str| -> Result<u64, StoreError> {
        fields
            .get(name)
            .map_or(Ok(0), |v| v.parse().map_err(|_| corrupt(WHAT)))
    };
    let mut values = [0; 7];
    for (value, name) in values.iter_mut().zip(Totals::FIELDS) {
        *value = number(name)?;
    }
    Ok(Some(UsageBucket {
        hour: text("hour")?.parse().map_err(|_| corrupt(WHAT))?,
        key_id: text("key_id")?,
        team: fields.get("team").cloned().unwrap_or_default(),
        model: text("model")?,
        totals: Totals::from_values(values),
    }))
}

pub(super) fn key_record(json: &str) -> Result<KeyRecord, StoreError> {
    // serde's message may quote the record; say only that it was unreadable.
    serde_json::from_str(json).map_err(|_| corrupt("a stored key record"))
}
