//! A real server program (redis-server, nats-server) run for tests on a loopback port, killed
//! when dropped: what [`crate::RedisServer`] and [`crate::NatsServer`] share. Starting tries a
//! few free ports (another process may take one between the probe and the server's bind) and
//! waits, bounded, until the server answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fixture: failing loudly is its job"
)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to run one kind of server.
pub(crate) struct Program {
    /// The executable.
    pub name: &'static str,
    /// Its arguments for listening on a port.
    pub args: fn(u16) -> Vec<String>,
    /// Whether the server on the port answers yet.
    pub ready: fn(u16) -> bool,
    /// What to install when the executable is missing.
    pub install: &'static str,
}

/// A running server, killed when dropped (a failed test leaves none behind).
pub(crate) struct LocalServer {
    child: Child,
    port: u16,
}

impl LocalServer {
    /// A fresh server on a free port.
    pub fn start(program: &Program, extra: &[&str]) -> Self {
        for _ in 0..5 {
            if let Some(server) = Self::start_on(program, free_port(), extra) {
                return server;
            }
        }
        panic!("{} did not start on any of five free ports", program.name);
    }

    /// A server on `port`, or `None` if it exited (the port was taken).
    pub fn start_on(program: &Program, port: u16, extra: &[&str]) -> Option<Self> {
        let spawned = Command::new(program.name)
            .args((program.args)(port))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "{} is not installed, and these tests need a real one: {}, then run them again",
                program.name, program.install
            ),
            Err(e) => panic!("could not start {}: {e}", program.name),
        };
        let mut server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if server.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            if (program.ready)(port) {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} on port {port} did not answer within 10 s", program.name);
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
