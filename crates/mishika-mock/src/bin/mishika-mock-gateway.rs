//! `mishika-mock-gateway [--port N] [--api-key K] [--models a,b,c] [--log-requests]`
//!
//! `--help` (or `-h`) prints the usage to stdout and exits with status 0; an unknown or
//! malformed argument prints it to stderr and exits with status 2.
//!
//! Runs the mock gateway on `127.0.0.1`, prints exactly one line
//! `listening on http://127.0.0.1:PORT` to stdout, and serves until SIGINT or SIGTERM.
//! With `--log-requests`, every request is also written to stderr as one JSON
//! line `{"method","path","headers","body"}` (keys included: the gateway is a
//! local test fixture); a body that is not JSON is logged as a string.

use std::io::Write as _;
use std::process::ExitCode;

use std::time::Duration;

use mishika_mock::{MockGateway, RecordedRequest};

const USAGE: &str =
    "usage: mishika-mock-gateway [--port N] [--api-key KEY] [--models a,b,c] [--log-requests]";

/// What `--help` prints: the usage line and what each option does.
const HELP: &str = "\
Runs an OpenAI-compatible mock gateway on 127.0.0.1 until SIGINT or SIGTERM, after printing
one line `listening on http://127.0.0.1:PORT` to stdout.

options:
  --port N          port to listen on (default 0: any free port)
  --api-key KEY     answer 401 to requests without `Authorization: Bearer KEY`
  --models a,b,c    the models /v1/models lists
  --log-requests    write every request to stderr as one JSON line
  -h, --help        print this help and exit";

/// What the command line asks for.
enum Command {
    /// Serve with these arguments.
    Serve(Args),
    /// Print the help and exit successfully.
    Help,
}

struct Args {
    port: u16,
    api_key: Option<String>,
    models: Option<Vec<String>>,
    log_requests: bool,
}

fn parse_args() -> Result<Command, String> {
    let mut args = Args {
        port: 0,
        api_key: None,
        models: None,
        log_requests: false,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        if flag == "--log-requests" && inline.is_none() {
            args.log_requests = true;
            continue;
        }
        if !matches!(flag.as_str(), "--port" | "--api-key" | "--models") {
            return Err(format!("unknown argument {flag:?}\n{USAGE}"));
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
    Ok(Command::Serve(args))
}

/// One request as a JSON line.
fn request_line(request: &RecordedRequest) -> String {
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), serde_json::Value::String(value))
        })
        .collect();
    let body = request.json().unwrap_or_else(|| {
        serde_json::Value::String(String::from_utf8_lossy(&request.body).into_owned())
    });
    serde_json::json!({
        "method": request.method.as_str(),
        "path": request.path,
        "headers": headers,
        "body": body,
    })
    .to_string()
}

/// Writes every request to stderr as it arrives, forever.
async fn log_requests(gateway: MockGateway) {
    let mut logged = 0;
    loop {
        if !gateway
            .wait_for_requests(logged + 1, Duration::from_secs(3600))
            .await
        {
            continue;
        }
        let requests = gateway.requests();
        let mut stderr = std::io::stderr().lock();
        for request in requests.iter().skip(logged) {
            let _ = writeln!(stderr, "{}", request_line(request));
        }
        logged = requests.len();
    }
}

/// Waits for SIGINT or SIGTERM. The handlers are installed when this is called, not when it
/// is first awaited: a caller that sends SIGTERM as soon as it reads the address line must
/// find them in place (else the default action kills the process with a failure status).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Command::Serve(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}\n\n{HELP}");
            return ExitCode::SUCCESS;
        }
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
    let shutdown = shutdown_signal();
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "listening on {}", gateway.base_url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    if args.log_requests {
        tokio::spawn(log_requests(gateway.clone()));
    }
    shutdown.await;
    gateway.shutdown();
    ExitCode::SUCCESS
}
