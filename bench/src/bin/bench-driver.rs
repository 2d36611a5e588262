//! Runs the whole comparison and prints one markdown table of medians.
//!
//! Starts `bench-server` once, then for each run and workload starts one `bench-client`
//! process per client (in an order that rotates, so drift on a noisy machine does not
//! favour one client), collects their JSON lines and takes medians over the runs.
//!
//! `bench-driver [--runs 5] [--scale 1.0] [--workloads a,b] [--clients a,b]
//! [--pace-us 1000] [--raw FILE]`

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use mishika_bench::{ClientKind, Figures, Workload};

struct Options {
    runs: usize,
    scale: f64,
    workloads: Vec<Workload>,
    clients: Vec<ClientKind>,
    pace_us: u64,
    raw: Option<PathBuf>,
}

fn parse_list<T>(value: &str, parse: impl Fn(&str) -> Option<T>) -> Vec<T> {
    value
        .split(',')
        .map(|name| parse(name.trim()).unwrap_or_else(|| panic!("unknown name {name:?}")))
        .collect()
}

fn options() -> Options {
    let mut options = Options {
        runs: 5,
        scale: 1.0,
        workloads: Workload::ALL.to_vec(),
        clients: ClientKind::ALL.to_vec(),
        pace_us: 1000,
        raw: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => options.runs = value.parse().expect("--runs takes a number"),
            "--scale" => options.scale = value.parse().expect("--scale takes a number"),
            "--workloads" => options.workloads = parse_list(&value, Workload::parse),
            "--clients" => options.clients = parse_list(&value, ClientKind::parse),
            "--pace-us" => options.pace_us = value.parse().expect("--pace-us takes a number"),
            "--raw" => options.raw = Some(PathBuf::from(value)),
            _ => panic!(
                "unknown argument {arg}; usage: bench-driver [--runs N] [--scale F] \
                 [--workloads a,b] [--clients a,b] [--pace-us N] [--raw FILE]"
            ),
        }
    }
    options
}

/// The server process; killed when dropped, whatever way the driver ends.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(binary: PathBuf, pace_us: u64) -> Server {
        let mut child = Command::new(binary)
            .args(["--pace-us", &pace_us.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start bench-server");
        let stdout = child.stdout.take().expect("server stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("server says where it listens");
        let url = line
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("unexpected server output {line:?}"))
            .trim()
            .to_owned();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// One row of the table: a figure of one workload.
struct Row {
    workload: Workload,
    label: &'static str,
    figure: fn(&Figures) -> Option<f64>,
}

const ROWS: &[Row] = &[
    Row {
        workload: Workload::ChatC1,
        label: "chat, concurrency 1: CPU µs/request",
        figure: |f| Some(f.cpu_per_request_us),
    },
    Row {
        workload: Workload::ChatC64,
        label: "chat, concurrency 64: CPU µs/request",
        figure: |f| Some(f.cpu_per_request_us),
    },
    Row {
        workload: Workload::Stream,
        label: "stream, 200 chunks paced: CPU µs/chunk",
        figure: |f| Some(f.cpu_per_chunk_us),
    },
    Row {
        workload: Workload::StreamBurst,
        label: "stream, 200 chunks in one burst: CPU µs/chunk",
        figure: |f| Some(f.cpu_per_chunk_us),
    },
    Row {
        workload: Workload::EmbedFloat,
        label: "embeddings 16×1536, float: CPU µs/request",
        figure: |f| Some(f.cpu_per_request_us),
    },
    Row {
        workload: Workload::EmbedBase64,
        label: "embeddings 16×1536, base64: CPU µs/request",
        figure: |f| Some(f.cpu_per_request_us),
    },
    Row {
        workload: Workload::Idle,
        label: "1000 idle open streams: RSS KiB/stream",
        figure: |f| f.idle_kib_per_stream,
    },
    Row {
        workload: Workload::Idle,
        label: "1000 idle open streams: live heap KiB/stream",
        figure: |f| f.idle_heap_kib_per_stream,
    },
    Row {
        workload: Workload::Idle,
        label: "1000 idle open streams: CPU µs/stream opened",
        figure: |f| Some(f.cpu_per_request_us),
    },
    Row {
        workload: Workload::IdleH2,
        label: "1000 idle open streams over HTTP/2: RSS KiB/stream",
        figure: |f| f.idle_kib_per_stream,
    },
    Row {
        workload: Workload::IdleH2,
        label: "1000 idle open streams over HTTP/2: live heap KiB/stream",
        figure: |f| f.idle_heap_kib_per_stream,
    },
    Row {
        workload: Workload::Kept,
        label: "2000 kept chat answers: live heap KiB/answer",
        figure: |f| f.kept_heap_kib_per_answer,
    },
];

fn peak_rss_mib(f: &Figures) -> Option<f64> {
    Some(f.peak_rss_kib as f64 / 1024.0)
}

type Results = HashMap<(ClientKind, Workload), Vec<Figures>>;

fn run_client(
    binary: &PathBuf,
    url: &str,
    client: ClientKind,
    workload: Workload,
    scale: f64,
) -> Option<Figures> {
    // The idle and kept workloads are defined by their counts; only the others scale.
    let requests = if workload.is_idle() || workload == Workload::Kept {
        workload.default_requests()
    } else {
        ((workload.default_requests() as f64 * scale).round() as usize).max(1)
    };
    let output = Command::new(binary)
        .args(["--client", client.name(), "--workload", workload.name()])
        .args(["--server-url", url, "--requests", &requests.to_string()])
        .stderr(Stdio::piped())
        .output()
        .expect("start bench-client");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .find(|l| l.contains("panicked"))
            .map_or("", |l| l);
        let detail = stderr.lines().nth(1).unwrap_or("");
        eprintln!(
            "  {} {}: FAILED ({}) {reason} {detail}",
            client.name(),
            workload.name(),
            output.status
        );
        return None;
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or("");
    match serde_json::from_str(line) {
        Ok(figures) => Some(figures),
        Err(e) => {
            eprintln!(
                "  {} {}: unreadable output {line:?}: {e}",
                client.name(),
                workload.name()
            );
            None
        }
    }
}

fn main() {
    let options = options();
    let dir = std::env::current_exe()
        .expect("own path")
        .parent()
        .expect("binary directory")
        .to_path_buf();
    let client_binary = dir.join("bench-client");
    let server = Server::start(dir.join("bench-server"), options.pace_us);
    eprintln!("server at {}", server.url);

    let mut raw = options
        .raw
        .as_ref()
        .map(|path| std::fs::File::create(path).expect("create the raw results file"));
    let mut results: Results = HashMap::new();
    for run in 0..options.runs {
        for (w, &workload) in options.workloads.iter().enumerate() {
            let n = options.clients.len();
            for i in 0..n {
                // Rotate who goes first, so slow drift of the machine hits all clients alike.
                let client = options.clients[(i + run + w) % n];
                let Some(figures) =
                    run_client(&client_binary, &server.url, client, workload, options.scale)
                else {
                    continue;
                };
                eprintln!(
                    "run {}/{} {:<13} {:<13} cpu/req {:>9.2} µs  cpu/chunk {:>6.3} µs  peak {:>6} KiB{}",
                    run + 1,
                    options.runs,
                    workload.name(),
                    client.name(),
                    figures.cpu_per_request_us,
                    figures.cpu_per_chunk_us,
                    figures.peak_rss_kib,
                    figures
                        .idle_kib_per_stream
                        .map_or(String::new(), |k| format!("  idle {k:.2} KiB/stream")),
                );
                if let Some(file) = raw.as_mut() {
                    let line = serde_json::to_string(&figures).expect("figures serialise");
                    writeln!(file, "{line}").expect("write raw results");
                }
                results.entry((client, workload)).or_default().push(figures);
            }
        }
    }
    drop(server);
    print_table(&options, &results);
}

fn median_of(
    results: &Results,
    client: ClientKind,
    workload: Workload,
    figure: fn(&Figures) -> Option<f64>,
) -> Option<f64> {
    let mut values: Vec<f64> = results
        .get(&(client, workload))
        .map(|runs| runs.iter().filter_map(figure).collect())
        .unwrap_or_default();
    median(&mut values)
}

fn cell(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "n/a".to_owned(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "n/a".to_owned(),
    }
}

fn print_table(options: &Options, results: &Results) {
    let m = |w, f| median_of(results, ClientKind::Mishika, w, f);
    let o = |w, f| median_of(results, ClientKind::AsyncOpenai, w, f);
    let r = |w, f| median_of(results, ClientKind::Floor, w, f);
    println!();
    println!(
        "Medians of {} runs; each figure from its own client process (lower is better).",
        options.runs
    );
    println!();
    println!(
        "| workload | mishika | async-openai | floor | mishika/floor | mishika/async-openai |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let line = |label: &str, w: Workload, f: fn(&Figures) -> Option<f64>| {
        if !options.workloads.contains(&w) {
            return;
        }
        let (mv, ov, rv) = (m(w, f), o(w, f), r(w, f));
        println!(
            "| {label} | {} | {} | {} | {} | {} |",
            cell(mv),
            cell(ov),
            cell(rv),
            ratio(mv, rv),
            ratio(mv, ov)
        );
    };
    for row in ROWS {
        line(row.label, row.workload, row.figure);
    }
    for &w in &options.workloads {
        let label = format!("peak RSS MiB, {}", w.name());
        line(&label, w, peak_rss_mib);
    }

    // The targets, checked on the medians above.
    println!();
    println!("Targets (mishika):");
    let check = |ok: Option<bool>, what: String| {
        let verdict = match ok {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "n/a ",
        };
        println!("- {verdict} {what}");
    };
    // Memory rows are figures to read, not targets (the idle target is checked below).
    for row in ROWS
        .iter()
        .filter(|row| !row.workload.is_idle() && row.workload != Workload::Kept)
    {
        if !options.workloads.contains(&row.workload) {
            continue;
        }
        let (mv, ov, rv) = (
            m(row.workload, row.figure),
            o(row.workload, row.figure),
            r(row.workload, row.figure),
        );
        let ok = match (mv, ov, rv) {
            (Some(mv), Some(ov), Some(rv)) => Some(mv <= 1.1 * rv && mv < ov),
            _ => None,
        };
        check(
            ok,
            format!(
                "{}: ≤ 1.1× floor and < async-openai ({} / {})",
                row.label,
                ratio(mv, rv),
                ratio(mv, ov)
            ),
        );
    }
    let per_request = |f: &Figures| Some(f.cpu_per_request_us);
    for (client, name) in [
        (ClientKind::Mishika, "mishika"),
        (ClientKind::AsyncOpenai, "async-openai"),
        (ClientKind::Floor, "floor"),
    ] {
        let float = median_of(results, client, Workload::EmbedFloat, per_request);
        let base64 = median_of(results, client, Workload::EmbedBase64, per_request);
        let speedup = float.zip(base64).map(|(f, b)| f / b);
        let what = format!(
            "{name}: base64 embeddings ≥ 3× cheaper than float ({})",
            speedup.map_or("n/a".to_owned(), |s| format!("{s:.2}×"))
        );
        if client == ClientKind::Mishika {
            check(speedup.map(|s| s >= 3.0), what);
        } else {
            println!("  (for comparison) {what}");
        }
    }
    // The router: the same chat calls through a group of 10 deployments.
    let router = |w| median_of(results, ClientKind::MishikaRouter, w, per_request);
    for (workload, limit) in [(Workload::ChatC1, None), (Workload::ChatC64, Some(1.05))] {
        let (with, without) = (router(workload), m(workload, per_request));
        let Some((with, without)) = with.zip(without) else {
            continue;
        };
        let added = with - without;
        let ratio = with / without;
        let within = added <= 2.0 && limit.is_none_or(|limit| ratio <= limit);
        check(
            Some(within),
            format!(
                "router on {}: adds ≤ 2 µs CPU per call{} ({added:+.2} µs, {ratio:.3}×)",
                workload.name(),
                limit.map_or(String::new(), |l| format!(" and ≤ {l}×"))
            ),
        );
    }
    for (workload, over) in [(Workload::Idle, "HTTP/1.1"), (Workload::IdleH2, "HTTP/2")] {
        let idle = m(workload, |f| f.idle_kib_per_stream);
        check(
            idle.map(|k| k < 16.0),
            format!(
                "idle open stream < 16 KiB, over {over} ({} KiB)",
                cell(idle)
            ),
        );
    }
}
