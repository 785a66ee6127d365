//! A real `redis-server` for tests, on a free loopback port, killed when dropped. Tests of the
//! shared state store and of replicas sharing limits run against it, never against a mock.

use crate::local_server::{LocalServer, Program};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub use crate::local_server::free_port;

const REDIS: Program = Program {
    name: "redis-server",
    args: |port| {
        ["--port", &port.to_string(), "--bind", "127.0.0.1"]
            .into_iter()
            .chain(["--save", "", "--appendonly", "no"])
            .map(str::to_owned)
            .collect()
    },
    ready: answers_ping,
    install: "install it (Debian/Ubuntu: `apt-get install redis-server`; Valkey's \
              `valkey-server` linked as `redis-server` also works)",
};

/// A `redis-server` of our own, killed when dropped (a failed test leaves none behind).
pub struct RedisServer(LocalServer);

impl RedisServer {
    /// A fresh server on a free port.
    pub fn start() -> Self {
        Self(LocalServer::start(&REDIS, &[]))
    }

    /// A server on `port`, or `None` if it exited (the port was taken).
    pub fn start_on(port: u16) -> Option<Self> {
        LocalServer::start_on(&REDIS, port, &[]).map(Self)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.0.port())
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

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
