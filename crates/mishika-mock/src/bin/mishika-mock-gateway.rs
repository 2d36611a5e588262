//! `mishika-mock-gateway [--port N] [--api-key K] [--models a,b,c]`
//!
//! Runs the mock gateway on `127.0.0.1`, prints exactly one line
//! `listening on http://127.0.0.1:PORT` to stdout, and serves until SIGINT or SIGTERM.

use std::io::Write as _;
use std::process::ExitCode;

use mishika_mock::MockGateway;

const USAGE: &str = "usage: mishika-mock-gateway [--port N] [--api-key KEY] [--models a,b,c]";

struct Args {
    port: u16,
    api_key: Option<String>,
    models: Option<Vec<String>>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 0,
        api_key: None,
        models: None,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = match inline.or_else(|| argv.next()) {
            Some(value) => value,
            None => return Err(format!("{flag} needs a value\n{USAGE}")),
        };
        match flag.as_str() {
            "--port" => {
                args.port = value
                    .parse()
                    .map_err(|_| format!("invalid port {value:?}\n{USAGE}"))?;
            }
            "--api-key" => args.api_key = Some(value),
            "--models" => {
                args.models = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let mut builder = MockGateway::builder().port(args.port);
    if let Some(key) = args.api_key {
        builder = builder.api_key(key);
    }
    if let Some(models) = args.models {
        builder = builder.models(models);
    }
    let gateway = match builder.start().await {
        Ok(gateway) => gateway,
        Err(error) => {
            eprintln!(
                "mishika-mock-gateway: cannot listen on port {}: {error}",
                args.port
            );
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "listening on {}", gateway.base_url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    wait_for_signal().await;
    gateway.shutdown();
    ExitCode::SUCCESS
}
