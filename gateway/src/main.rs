//! The `omnigate` binary: parses the command line and runs the chosen subcommand.

use clap::Parser;
use omnigate::cli::{Cli, Command};
use omnigate::{Server, routes, shutdown_signal, telemetry};
use std::process::ExitCode;

// Request handling allocates many small, short-lived buffers; mimalloc serves them from
// thread-local pages instead of glibc's arenas (measured in the README's benchmark section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, bind } => serve(config, bind),
        Command::Check { config } => match omnigate_config::load(config.as_deref())
            .map_err(|e| e.to_string())
            .and_then(|config| omnigate_backend_factory::check_devices(&config).map(|()| config))
        {
            Ok(config) => {
                println!(
                    "config is valid: {} model(s), listening on {}",
                    config.models.len(),
                    config.server.bind
                );
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Openapi { output } => print_openapi(output),
        Command::Fetch { config } => fetch(config),
        Command::Worker { config, nats } => worker(config, nats),
    }
}

/// Serves the config's models to a fleet until SIGTERM, then drains.
fn worker(config: Option<std::path::PathBuf>, nats: Option<String>) -> ExitCode {
    let mut config = match load_config(config.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Some(url) = nats {
        match config.worker.as_mut() {
            Some(worker) => worker.nats.nats_url = url,
            None => config.worker = Some(omnigate_config::WorkerConfig::dialing(&url)),
        }
        if let Some(Err(err)) = config.worker.as_ref().map(|w| w.validate()) {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    }
    telemetry::init(config.server.log_format);
    let runtime = match build_runtime(config.server.worker_threads) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(omnigate::worker::run(&config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "worker stopped");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the config (the embedded defaults when it names no models).
fn load_config(path: Option<&std::path::Path>) -> Result<omnigate_config::Config, ExitCode> {
    let loaded = omnigate_config::load(path).and_then(|mut config| {
        config.use_embedded_defaults_if_empty()?;
        Ok(config)
    });
    loaded.map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::FAILURE
    })
}

/// Downloads every embedded model's weights into the cache, then exits.
fn fetch(config: Option<std::path::PathBuf>) -> ExitCode {
    let config = match load_config(config.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    telemetry::init(config.server.log_format);
    let runtime = match build_runtime(1) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(omnigate_backend_factory::fetch_all(&config)) {
        Ok(dirs) => {
            for (name, dir) in dirs {
                println!("{name}: {}", dir.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config_path: Option<std::path::PathBuf>, bind: Option<std::net::SocketAddr>) -> ExitCode {
    let mut config = match load_config(config_path.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Some(bind) = bind {
        config.server.bind = bind;
    }
    let traces = match telemetry::init_serving(config.server.log_format, &config.telemetry) {
        Ok(traces) => traces,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if config.models.values().all(|m| {
        m.deployments
            .iter()
            .all(|d| matches!(d, omnigate_config::DeploymentConfig::Embedded(_)))
    }) {
        tracing::info!(
            "serving embedded models (weights are fetched into the cache on first start)"
        );
    }
    let runtime = match build_runtime(config.server.worker_threads) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let server = Server::bind(&config).await?;
        let addr = server.local_addr()?;
        server.state().set_config_source(omnigate::state::ConfigSource {
            path: config_path.clone(),
            bind,
        });
        reload_on_sighup(server.state().clone());
        if let (Some(path), Some(every)) = (&config_path, config.server.watch_config_secs) {
            omnigate::reload::watch(
                server.state().clone(),
                path.clone(),
                std::time::Duration::from_secs_f64(every),
            );
        }
        let models: Vec<&String> = config.models.keys().collect();
        tracing::info!(%addr, ?models, video_decoder = omnigate_video::H264_DECODER, "omnigate listening");
        server.run(shutdown_signal()).await
    });
    // The spans of the last requests, still buffered, go out before the process does.
    if let Some(traces) = traces {
        traces.shutdown();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "omnigate stopped");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// On SIGHUP, reads the config again and swaps it in (see `omnigate::reload`); a config that
/// does not load changes nothing and says why.
fn reload_on_sighup(state: omnigate::state::AppState) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!(
            "cannot listen for SIGHUP: the config is reloaded only through POST /admin/reload"
        );
        return;
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if let Err(err) = state.reload().await {
                tracing::error!(%err, "SIGHUP: the config did not reload; keeping the running one");
            }
        }
    });
}

/// One worker: a current-thread runtime (everything on one thread, no work-stealing or
/// cross-thread wakeups). More: the work-stealing multi-thread runtime.
fn build_runtime(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = match worker_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

fn print_openapi(output: Option<std::path::PathBuf>) -> ExitCode {
    let json = match routes::openapi().to_pretty_json() {
        Ok(json) => json + "\n",
        Err(err) => {
            eprintln!("error: cannot render the spec: {err}");
            return ExitCode::FAILURE;
        }
    };
    match output {
        None => {
            print!("{json}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(&path, json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: cannot write {}: {err}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}
