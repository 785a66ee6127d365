//! A real `nats-server` for tests, on a free loopback port, killed when dropped. The worker-fleet
//! tests run against it, never against a mock.

use crate::local_server::{LocalServer, Program};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::Duration;

const NATS: Program = Program {
    name: "nats-server",
    args: |port| {
        ["-a", "127.0.0.1", "-p", &port.to_string()]
            .map(str::to_owned)
            .to_vec()
    },
    ready: greets,
    install: "install it (Debian/Ubuntu: `apt-get install nats-server`)",
};

/// A `nats-server` of our own, killed when dropped (a failed test leaves none behind).
pub struct NatsServer(LocalServer);

impl NatsServer {
    /// A fresh server on a free port, no authentication.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A fresh server on a free port with extra command-line arguments, e.g.
    /// `["--user", "u", "--pass", "p"]`, `["--auth", "TOKEN"]` or `["-c", "server.conf"]`.
    pub fn start_with(args: &[&str]) -> Self {
        Self(LocalServer::start(&NATS, args))
    }

    /// A server on `port`, or `None` if it exited (the port was taken).
    pub fn start_on(port: u16, args: &[&str]) -> Option<Self> {
        LocalServer::start_on(&NATS, port, args).map(Self)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.0.port())
    }

    /// Its port (to start a new server on after [`Self::kill`], say).
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Its process id (to freeze it with `kill -STOP`, say).
    pub fn pid(&self) -> u32 {
        self.0.pid()
    }

    /// Kills it now (SIGKILL: a crash, not a shutdown).
    pub fn kill(self) {
        drop(self);
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
