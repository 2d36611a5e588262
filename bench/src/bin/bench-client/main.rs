//! One client × one workload per process, so the CPU time (`getrusage(RUSAGE_SELF)`) and
//! the RSS it reports belong to that client alone; the server is another process.
//!
//! `bench-client --client mishika|async-openai|floor --workload NAME --server-url URL
//! [--requests N]` warms up, runs the workload, checks every answer and prints one JSON
//! line of [`Figures`].

mod async_openai_client;
mod floor;
mod mishika_client;

use std::any::Any;
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mishika_bench::measure::{heap_kib, peak_rss_kib, process_cpu, raise_fd_limit, rss_kib};
use mishika_bench::payload::{ANSWER, embedding_vector};
use mishika_bench::{
    ClientKind, EMBEDDING_DIM, EMBEDDING_INPUTS, Figures, STREAM_CHUNKS, Workload,
};

/// What every client under test can do; each method is one unit of a workload, written
/// the way a user of that library would write it.
pub(crate) trait BenchClient {
    /// A chat answer as the library hands it over.
    type Answer: 'static;
    /// One non-streaming chat.
    fn answer(&self) -> impl Future<Output = Self::Answer>;
    /// The length in bytes of an answer's text.
    fn answer_length(answer: &Self::Answer) -> usize;
    /// One non-streaming chat; returns the answer's length in bytes.
    fn chat(&self) -> impl Future<Output = usize> {
        async { Self::answer_length(&self.answer().await) }
    }
    /// One non-streaming chat; returns the answer's length in bytes and the answer itself,
    /// to be kept.
    fn keep_chat(&self) -> impl Future<Output = (usize, Box<dyn Any>)> {
        async {
            let answer = self.answer().await;
            (
                Self::answer_length(&answer),
                Box::new(answer) as Box<dyn Any>,
            )
        }
    }
    /// One streamed chat, consumed to the end; returns the chunks received.
    fn stream(&self) -> impl Future<Output = usize>;
    /// Open a stream and wait for its first chunk; the stream is returned still open.
    fn open_idle(&self) -> impl Future<Output = Box<dyn Any>>;
    /// One embeddings call with 16 inputs; returns every vector decoded to `f32`s.
    fn embed(&self, base64: bool) -> impl Future<Output = Vec<Vec<f32>>>;
}

struct Args {
    client: ClientKind,
    workload: Workload,
    server_url: String,
    requests: Option<usize>,
}

fn parse_args() -> Args {
    const USAGE: &str = "usage: bench-client --client mishika|async-openai|floor \
        --workload chat-c1|chat-c64|stream|stream-burst|embed-float|embed-base64|idle \
        --server-url http://127.0.0.1:PORT [--requests N]";
    let (mut client, mut workload, mut server_url, mut requests) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{arg} needs a value; {USAGE}"));
        match arg.as_str() {
            "--client" => client = ClientKind::parse(&value),
            "--workload" => workload = Workload::parse(&value),
            "--server-url" => server_url = Some(value.trim_end_matches('/').to_owned()),
            "--requests" => requests = Some(value.parse().expect("--requests takes a number")),
            _ => panic!("unknown argument {arg}; {USAGE}"),
        }
    }
    Args {
        client: client.unwrap_or_else(|| panic!("--client missing or unknown; {USAGE}")),
        workload: workload.unwrap_or_else(|| panic!("--workload missing or unknown; {USAGE}")),
        server_url: server_url.unwrap_or_else(|| panic!("--server-url missing; {USAGE}")),
        requests,
    }
}

fn main() {
    let args = parse_args();
    raise_fd_limit();
    // One thread for every client: the same scheduler for all three, and on a 2-core
    // machine the other core is the server's.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // The server shapes streams by the first path segment of the URL.
    let base = format!(
        "{}/{}",
        args.server_url,
        args.workload.stream_mode().segment()
    );
    let http2 = args.workload.http2();
    let figures = runtime.block_on(async {
        match args.client {
            ClientKind::Mishika => run(&mishika_client::Mishika::new(&base, http2), &args).await,
            ClientKind::AsyncOpenai => {
                run(&async_openai_client::AsyncOpenai::new(&base, http2), &args).await
            }
            ClientKind::Floor => run(&floor::Floor::new(&base, http2), &args).await,
            ClientKind::MishikaRouter => {
                run(&mishika_client::Mishika::with_router(&base, http2), &args).await
            }
        }
    });
    println!(
        "{}",
        serde_json::to_string(&figures).expect("figures serialise")
    );
}

/// The figures every workload reports, from its measured CPU and wall time; the memory
/// figures of the idle and kept workloads are left for them to fill in.
fn measured(
    client: ClientKind,
    workload: Workload,
    requests: usize,
    chunks: usize,
    cpu: Duration,
    wall: Duration,
) -> Figures {
    let cpu_us = cpu.as_secs_f64() * 1e6;
    Figures {
        client,
        workload,
        requests,
        chunks,
        cpu_us,
        wall_ms: wall.as_secs_f64() * 1e3,
        cpu_per_request_us: cpu_us / requests as f64,
        cpu_per_chunk_us: if chunks > 0 {
            cpu_us / chunks as f64
        } else {
            0.0
        },
        peak_rss_kib: peak_rss_kib(),
        idle_kib_per_stream: None,
        idle_heap_kib_per_stream: None,
        kept_heap_kib_per_answer: None,
    }
}

/// Run `n` units, `concurrency` at a time, on this task; returns the sum of their results.
async fn run_concurrent<F, Fut>(n: usize, concurrency: usize, unit: F) -> usize
where
    F: Fn() -> Fut,
    Fut: Future<Output = usize>,
{
    futures_util::stream::iter(0..n)
        .map(|_| unit())
        .buffer_unordered(concurrency)
        .fold(0, |total, x| async move { total + x })
        .await
}

/// One unit of `workload`; returns the chunks it received (streams) or 1.
async fn unit<C: BenchClient>(client: &C, workload: Workload) -> usize {
    match workload {
        Workload::ChatC1 | Workload::ChatC64 => {
            let length = client.chat().await;
            assert_eq!(length, ANSWER.len(), "chat answer length");
            1
        }
        Workload::Stream | Workload::StreamBurst => {
            let chunks = client.stream().await;
            assert_eq!(chunks, STREAM_CHUNKS, "stream chunk count");
            chunks
        }
        Workload::EmbedFloat | Workload::EmbedBase64 => {
            let vectors = client.embed(workload == Workload::EmbedBase64).await;
            check_embeddings(&vectors);
            1
        }
        Workload::Idle | Workload::IdleH2 | Workload::Kept => {
            unreachable!("{workload:?} has its own runner")
        }
    }
}

/// Every vector must be there, full length, and decode to what the server encoded.
fn check_embeddings(vectors: &[Vec<f32>]) {
    assert_eq!(vectors.len(), EMBEDDING_INPUTS, "embedding count");
    for (index, vector) in vectors.iter().enumerate().step_by(5) {
        assert_eq!(vector.len(), EMBEDDING_DIM, "embedding length");
        let expected = embedding_vector(index);
        for i in [0, EMBEDDING_DIM / 2, EMBEDDING_DIM - 1] {
            assert!(
                (vector[i] - expected[i]).abs() < 1e-7,
                "embedding {index}[{i}] differs"
            );
        }
    }
}

async fn run<C: BenchClient>(client: &C, args: &Args) -> Figures {
    let workload = args.workload;
    let requests = args.requests.unwrap_or_else(|| workload.default_requests());
    match workload {
        Workload::Idle | Workload::IdleH2 => {
            return run_idle(client, args.client, workload, requests).await;
        }
        Workload::Kept => return run_kept(client, args.client, requests).await,
        _ => {}
    }
    let concurrency = workload.concurrency();
    // Warm-up: connections pooled, lazy statics and allocator arenas in place.
    let warmup = (requests / 10).max(concurrency * 2);
    run_concurrent(warmup, concurrency, || unit(client, workload)).await;

    let (cpu, wall) = (process_cpu(), Instant::now());
    let units = run_concurrent(requests, concurrency, || unit(client, workload)).await;
    let (cpu, wall) = (process_cpu() - cpu, wall.elapsed());

    let chunks = if workload.is_stream() { units } else { 0 };
    measured(args.client, workload, requests, chunks, cpu, wall)
}

/// Open `streams` streams (64 being opened at a time), each past its first chunk, hold
/// them all, and report the RSS growth per stream.
async fn run_idle<C: BenchClient>(
    client: &C,
    kind: ClientKind,
    workload: Workload,
    streams: usize,
) -> Figures {
    // A few streams opened and dropped first, so one-time setup is not counted per stream.
    for _ in 0..4 {
        drop(client.open_idle().await);
    }
    let (rss_before, heap_before) = (rss_kib(), heap_kib());
    let (cpu, wall) = (process_cpu(), Instant::now());
    let held: Vec<Box<dyn Any>> = futures_util::stream::iter(0..streams)
        .map(|_| client.open_idle())
        .buffer_unordered(workload.concurrency())
        .collect()
        .await;
    let (cpu, wall) = (process_cpu() - cpu, wall.elapsed());
    let (rss_after, heap_after) = (rss_kib(), heap_kib());
    assert_eq!(held.len(), streams);
    let figures = Figures {
        idle_kib_per_stream: Some(rss_after.saturating_sub(rss_before) as f64 / streams as f64),
        idle_heap_kib_per_stream: Some(
            heap_after.saturating_sub(heap_before) as f64 / streams as f64,
        ),
        ..measured(kind, workload, streams, 0, cpu, wall)
    };
    drop(held);
    figures
}

/// Make `answers` chat calls one at a time and keep every answer as the library hands it
/// over; report the growth of the live heap per kept answer (what a batch job that
/// collects its answers pays).
async fn run_kept<C: BenchClient>(client: &C, kind: ClientKind, answers: usize) -> Figures {
    // Warm-up: the connection and one-time allocations in place before counting.
    for _ in 0..50 {
        drop(client.keep_chat().await);
    }
    let heap_before = heap_kib();
    let (cpu, wall) = (process_cpu(), Instant::now());
    let mut kept = Vec::with_capacity(answers);
    for _ in 0..answers {
        let (length, answer) = client.keep_chat().await;
        assert_eq!(length, ANSWER.len(), "chat answer length");
        kept.push(answer);
    }
    let (cpu, wall) = (process_cpu() - cpu, wall.elapsed());
    let heap_after = heap_kib();
    let figures = Figures {
        kept_heap_kib_per_answer: Some(
            heap_after.saturating_sub(heap_before) as f64 / answers as f64,
        ),
        ..measured(kind, Workload::Kept, answers, 0, cpu, wall)
    };
    drop(kept);
    figures
}
