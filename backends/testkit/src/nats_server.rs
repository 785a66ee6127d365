//! A real `nats-server` for tests, on a free loopback port, killed when dropped. The worker-fleet
//! tests run against it, never against a mock.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fixture: failing loudly is its job"
)]

use crate::redis_server::free_port;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nats-server` of our own, killed when dropped (a failed test leaves none behind).
pub struct NatsServer {
    child: Child,
    port: u16,
}

impl NatsServer {
    /// A fresh server on a free port, no authentication.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A fresh server on a free port with extra command-line arguments, e.g.
    /// `["--user", "u", "--pass", "p"]`, `["--auth", "TOKEN"]` or `["-c", "server.conf"]`.
    pub fn start_with(args: &[&str]) -> Self {
        // Another process may take the port between our probe and the server's bind: try again.
        for _ in 0..5 {
            if let Some(server) = Self::start_on(free_port(), args) {
                return server;
            }
        }
        panic!("nats-server did not start on any of five free ports");
    }

    /// A server on `port`, or `None` if it exited (the port was taken).
    pub fn start_on(port: u16, args: &[&str]) -> Option<Self> {
        let spawned = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "nats-server is not installed, and the fleet tests need a real one: install it \
                 (Debian/Ubuntu: `apt-get install nats-server`) and run them again"
            ),
            Err(e) => panic!("could not start nats-server: {e}"),
        };
        let mut server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if server.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            if greets(port) {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nats-server on port {port} sent no INFO within 10 s");
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Its port (to start a new server on after [`Self::kill`], say).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id (to freeze it with `kill -STOP`, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it now (SIGKILL: a crash, not a shutdown).
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a server on `port` accepts a connection and greets it with its `INFO` line.
fn greets(port: u16) -> bool {
    let Ok(stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("INFO ")
}
