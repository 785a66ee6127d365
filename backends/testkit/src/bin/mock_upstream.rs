//! The benchmarks' OpenAI-compatible upstream ([`omnigate_testkit::bench_upstream`]) on a
//! loopback port, the benchmark's floor (a bare TCP relay, [`omnigate_testkit::bench_relay`]),
//! and the benchmark's test JPEG.
//!
//! ```text
//! omnigate-mock-upstream serve [--port 18000] [--threads 1] [--delay-ms 0] [--fail-percent 0]
//! omnigate-mock-upstream relay [--port 18081] [--to 18000]
//! omnigate-mock-upstream jpeg WIDTH HEIGHT > picture.jpg
//! omnigate-mock-upstream redis-rtt [--port 6379] [--seconds 5] [--concurrency 1] [--admission-sized]   # one round trip's cost
//! ```
#![allow(clippy::print_stdout, reason = "a command-line tool")]

use omnigate_testkit::{bench_relay, bench_upstream};
use std::io::Write;

fn arg(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `serve` to its end on `runtime`: success only if both start and serving went well.
fn serve_on<F>(
    runtime: std::io::Result<tokio::runtime::Runtime>,
    serve: F,
) -> std::process::ExitCode
where
    F: std::future::Future<Output = std::io::Result<()>>,
{
    match runtime.and_then(|runtime| runtime.block_on(serve)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omnigate-mock-upstream: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("jpeg") => {
            let width = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1280u32);
            let height = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(960u32);
            match bench_upstream::jpeg(width, height) {
                Some(jpeg) if std::io::stdout().write_all(&jpeg).is_ok() => {
                    std::process::ExitCode::SUCCESS
                }
                _ => std::process::ExitCode::FAILURE,
            }
        }
        Some("serve") => {
            let port = arg(&args, "--port", 18_000);
            let threads = arg(&args, "--threads", 1).max(1);
            let faults = bench_upstream::Faults {
                delay: std::time::Duration::from_millis(arg(&args, "--delay-ms", 0) as u64),
                fail_percent: arg(&args, "--fail-percent", 0).min(100) as u32,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build();
            serve_on(runtime, async move {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port as u16)).await?;
                let port = listener.local_addr()?.port();
                println!("mock upstream on http://127.0.0.1:{port}/v1");
                // No faults: the plain router, so the overhead benchmark's mock costs what it did.
                let router = if faults.delay.is_zero() && faults.fail_percent == 0 {
                    bench_upstream::router()
                } else {
                    bench_upstream::router_with(faults)
                };
                axum::serve(listener, router).await
            })
        }
        Some("relay") => {
            let port = arg(&args, "--port", 18_081) as u16;
            let upstream =
                std::net::SocketAddr::from(([127, 0, 0, 1], arg(&args, "--to", 18_000) as u16));
            // One thread, like omnigate's benchmark configuration.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            serve_on(runtime, async move {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
                println!(
                    "TCP relay on 127.0.0.1:{} to {upstream}",
                    listener.local_addr()?.port()
                );
                bench_relay::serve(listener, upstream).await
            })
        }
        Some("redis-rtt") => {
            let port = arg(&args, "--port", 6379);
            let seconds = arg(&args, "--seconds", 5) as f64;
            let concurrency = arg(&args, "--concurrency", 1);
            let call = if args.iter().any(|a| a == "--admission-sized") {
                omnigate_testkit::bench_redis::Call::AdmissionSized
            } else {
                omnigate_testkit::bench_redis::Call::Ping
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            serve_on(runtime, async move {
                let url = format!("redis://127.0.0.1:{port}");
                let figures =
                    omnigate_testkit::bench_redis::ping_loop(&url, seconds, concurrency, call)
                        .await
                        .map_err(std::io::Error::other)?;
                println!(
                    "{{\"calls\":{},\"cpu_us_per_call\":{:.2},\"p50_ms\":{:.4}}}",
                    figures.calls, figures.cpu_us_per_call, figures.p50_ms
                );
                Ok(())
            })
        }
        _ => {
            eprintln!(
                "usage: omnigate-mock-upstream serve [--port P] [--threads N] [--delay-ms D] [--fail-percent F] | relay [--port P] [--to UPSTREAM_PORT] | jpeg W H | redis-rtt [--port P] [--seconds S] [--concurrency N] [--admission-sized]"
            );
            std::process::ExitCode::from(2)
        }
    }
}
