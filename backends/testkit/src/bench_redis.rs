//! The limiter benchmark's floor: what one Redis round trip costs a client like the gateway's
//! (redis-rs's `ConnectionManager` on one tokio thread), measured in the same run as the
//! limiter itself. The limiter's admission is one such round trip; what it costs beyond this is
//! the limiter's own work.

use std::time::{Duration, Instant};

/// One run's figures.
pub struct RoundTrips {
    /// Round trips made.
    pub calls: u64,
    /// This process's CPU time (user + system) per round trip, in microseconds.
    pub cpu_us_per_call: f64,
    /// Median round trip, in milliseconds.
    pub p50_ms: f64,
}

/// What each round trip sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `PING`: the least any round trip costs.
    Ping,
    /// A script call of an admission's size (EVALSHA, six keys and ten arguments, as for a key
    /// limited in requests and tokens per minute; five integers back) whose script does nothing:
    /// what the client spends on an admission's round trip, without the limiter's own work.
    AdmissionSized,
}

/// Sends `call` from `concurrency` tasks at once (each one at a time, all multiplexed on one
/// connection, as the gateway's requests share one) for `seconds` on the current
/// (single-threaded) runtime. At 1 it is the c=1 floor; at 64 the floor under the c=64 rows,
/// where redis-rs writes and reads many commands per system call.
pub async fn ping_loop(
    url: &str,
    seconds: f64,
    concurrency: usize,
    call: Call,
) -> Result<RoundTrips, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let conn = redis::aio::ConnectionManager::new(client)
        .await
        .map_err(|e| e.to_string())?;
    let cpu_before = cpu_time()?;
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let mut conn = conn.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < end {
                    let sent = Instant::now();
                    round_trip(&mut conn, call).await?;
                    latencies.push(sent.elapsed());
                }
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    let cpu = cpu_time()? - cpu_before;
    latencies.sort_unstable();
    let calls = latencies.len() as u64;
    Ok(RoundTrips {
        calls,
        cpu_us_per_call: cpu.as_secs_f64() * 1e6 / calls.max(1) as f64,
        p50_ms: latencies
            .get(latencies.len() / 2)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3),
    })
}

/// One round trip of `call`.
async fn round_trip(conn: &mut redis::aio::ConnectionManager, call: Call) -> Result<(), String> {
    match call {
        Call::Ping => {
            let _: String = redis::cmd("PING")
                .query_async(conn)
                .await
                .map_err(|e| e.to_string())?;
        }
        Call::AdmissionSized => {
            static SCRIPT: std::sync::LazyLock<redis::Script> =
                std::sync::LazyLock::new(|| redis::Script::new("return {1, 0, 0, 0, 0}"));
            let mut invocation = SCRIPT.prepare_invoke();
            for dimension in ["requests", "tokens"] {
                for kind in ["win", "win-amount", "win-sum"] {
                    invocation.key(format!("bench:{kind}:{dimension}:key:bench"));
                }
            }
            invocation
                .arg("0123456789abcdef0123456789abcdef")
                .arg("")
                .arg(0)
                .arg(2)
                .arg(0)
                .arg(0);
            for _ in 0..2 {
                invocation.arg(1_000_000_000u64).arg(1u64);
            }
            let _: Vec<i64> = invocation
                .invoke_async(conn)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// This process's user + system CPU time, from `/proc/self/stat` (clock ticks of 10 ms: the
/// run must be seconds long).
fn cpu_time() -> Result<Duration, String> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    Ok(Duration::from_millis((ticks(11) + ticks(12)) * 10))
}
