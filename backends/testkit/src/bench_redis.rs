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

/// PINGs `url` one at a time for `seconds` on the current (single-threaded) runtime.
pub async fn ping_loop(url: &str, seconds: f64) -> Result<RoundTrips, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = redis::aio::ConnectionManager::new(client)
        .await
        .map_err(|e| e.to_string())?;
    let mut latencies = Vec::new();
    let cpu_before = cpu_time()?;
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        let sent = Instant::now();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        latencies.push(sent.elapsed());
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
