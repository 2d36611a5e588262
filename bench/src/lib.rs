//! Shared pieces of the bench: the workloads, the canned answers the server sends, the
//! process-level measurements and the one-line JSON report a client prints.
//!
//! Three binaries use it: `bench-server` (canned answers on loopback), `bench-client`
//! (one client × one workload per process, so CPU and RSS are attributable) and
//! `bench-driver` (runs them all several times and prints medians as a markdown table).

pub mod measure;
pub mod payload;

use serde::{Deserialize, Serialize};

/// The model names the clients send. mishika routes `mishikallm_proxy/<name>` and sends
/// `<name>`; the other two send `<name>` directly, so the server sees identical requests.
pub const CHAT_MODEL: &str = "gpt-4o-mini";
/// The embedding model.
pub const EMBEDDING_MODEL: &str = "text-embedding-3-small";
/// The user message of every chat request.
pub const PROMPT: &str = "Summarise the plot of Hamlet in two sentences for a busy reader.";
/// Data events in one streamed answer (role chunk + content chunks + finish chunk).
pub const STREAM_CHUNKS: usize = 200;
/// Inputs per embedding request.
pub const EMBEDDING_INPUTS: usize = 16;
/// Floats per embedding (text-embedding-3-small).
pub const EMBEDDING_DIM: usize = 1536;
/// Streams held open at once by the idle workload.
pub const IDLE_STREAMS: usize = 1000;
/// Chat answers kept at once by the kept workload.
pub const KEPT_ANSWERS: usize = 2000;

/// The reqwest client every client under test uses: reqwest's defaults, or HTTP/2 with
/// prior knowledge (the server speaks both on the same port).
pub fn http_client(http2: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder();
    let builder = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder
    };
    builder.build().expect("reqwest client")
}

/// The clients under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// mishika through `mishikallm_proxy/` and the full router/settings path.
    Mishika,
    /// async-openai, latest release.
    AsyncOpenai,
    /// One reqwest client + serde_json into minimal structs: the floor.
    Floor,
    /// mishika through a `Router`: a model group of 10 deployments, all on the same
    /// server (not in [`ClientKind::ALL`]: compared with [`ClientKind::Mishika`] alone).
    MishikaRouter,
}

impl ClientKind {
    /// All clients, in table order.
    pub const ALL: [ClientKind; 3] = [
        ClientKind::Mishika,
        ClientKind::AsyncOpenai,
        ClientKind::Floor,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Mishika => "mishika",
            ClientKind::AsyncOpenai => "async-openai",
            ClientKind::Floor => "floor",
            ClientKind::MishikaRouter => "mishika-router",
        }
    }

    /// Parse a command-line name.
    pub fn parse(name: &str) -> Option<ClientKind> {
        ClientKind::ALL
            .into_iter()
            .chain([ClientKind::MishikaRouter])
            .find(|kind| kind.name() == name)
    }
}

/// How the server shapes a streamed answer; chosen by the first path segment of the
/// base URL a client is given (`http://127.0.0.1:PORT/<mode>/v1/...`), so no client needs
/// anything but a base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// One event per network write, spaced by the server's pace (as a model streams tokens):
    /// every chunk costs the client a wake-up and a read.
    Paced,
    /// The whole answer in one body as fast as possible: isolates SSE decoding + JSON.
    Burst,
    /// The first event, then silence until the client hangs up.
    Idle,
}

impl StreamMode {
    /// The path segment that selects this mode.
    pub fn segment(self) -> &'static str {
        match self {
            StreamMode::Paced => "paced",
            StreamMode::Burst => "burst",
            StreamMode::Idle => "idle",
        }
    }

    /// The mode a request path selects (`Paced` when none is named).
    pub fn from_path(path: &str) -> StreamMode {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        match first {
            "burst" => StreamMode::Burst,
            "idle" => StreamMode::Idle,
            _ => StreamMode::Paced,
        }
    }
}

/// One workload: what each client does, how often and how concurrently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Non-streaming chat, one request at a time.
    ChatC1,
    /// Non-streaming chat, 64 requests in flight.
    ChatC64,
    /// Streamed chat, paced events, fully consumed.
    Stream,
    /// Streamed chat, the whole answer at once, fully consumed.
    StreamBurst,
    /// Embeddings, 16 inputs × 1536 floats as JSON numbers.
    EmbedFloat,
    /// Embeddings, 16 inputs × 1536 floats as base64.
    EmbedBase64,
    /// 1000 streams open at once, each past its first chunk, then idle.
    Idle,
    /// The same over HTTP/2 (prior knowledge): the streams share connections.
    IdleH2,
    /// 2000 chat answers, one at a time, all kept.
    Kept,
}

impl Workload {
    /// All workloads, in table order.
    pub const ALL: [Workload; 9] = [
        Workload::ChatC1,
        Workload::ChatC64,
        Workload::Stream,
        Workload::StreamBurst,
        Workload::EmbedFloat,
        Workload::EmbedBase64,
        Workload::Idle,
        Workload::IdleH2,
        Workload::Kept,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ChatC1 => "chat-c1",
            Workload::ChatC64 => "chat-c64",
            Workload::Stream => "stream",
            Workload::StreamBurst => "stream-burst",
            Workload::EmbedFloat => "embed-float",
            Workload::EmbedBase64 => "embed-base64",
            Workload::Idle => "idle",
            Workload::IdleH2 => "idle-h2",
            Workload::Kept => "kept",
        }
    }

    /// Parse a command-line name.
    pub fn parse(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Requests (streams) per measured run by default: sized so that one client process
    /// measures for one to two seconds on a 2-core machine.
    pub fn default_requests(self) -> usize {
        match self {
            Workload::ChatC1 => 30000,
            Workload::ChatC64 => 80000,
            Workload::Stream => 512,
            Workload::StreamBurst => 3000,
            Workload::EmbedFloat => 2000,
            Workload::EmbedBase64 => 6000,
            Workload::Idle | Workload::IdleH2 => IDLE_STREAMS,
            Workload::Kept => KEPT_ANSWERS,
        }
    }

    /// Requests in flight at once.
    pub fn concurrency(self) -> usize {
        match self {
            Workload::ChatC1 | Workload::EmbedFloat | Workload::EmbedBase64 | Workload::Kept => 1,
            Workload::ChatC64 => 64,
            // Paced streams spend most of their life waiting, so keep many in flight.
            Workload::Stream => 64,
            Workload::StreamBurst => 4,
            // How many idle streams are being opened at once (they all stay open).
            Workload::Idle | Workload::IdleH2 => 64,
        }
    }

    /// The stream shape this workload asks the server for.
    pub fn stream_mode(self) -> StreamMode {
        match self {
            Workload::StreamBurst => StreamMode::Burst,
            Workload::Idle | Workload::IdleH2 => StreamMode::Idle,
            _ => StreamMode::Paced,
        }
    }

    /// True for the idle-stream workloads (their own runner, memory per stream).
    pub fn is_idle(self) -> bool {
        matches!(self, Workload::Idle | Workload::IdleH2)
    }

    /// True where the clients speak HTTP/2 (prior knowledge) rather than HTTP/1.1.
    pub fn http2(self) -> bool {
        self == Workload::IdleH2
    }

    /// True for the streaming workloads that report CPU per chunk.
    pub fn is_stream(self) -> bool {
        matches!(self, Workload::Stream | Workload::StreamBurst)
    }
}

/// What one client process measured for one workload: one JSON line on stdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    /// The client.
    pub client: ClientKind,
    /// The workload.
    pub workload: Workload,
    /// Requests (streams) measured.
    pub requests: usize,
    /// Stream chunks received in the measured part (0 for non-streaming workloads).
    pub chunks: usize,
    /// User + system CPU of the whole client process over the measured part, µs.
    pub cpu_us: f64,
    /// Wall time of the measured part, ms.
    pub wall_ms: f64,
    /// `cpu_us / requests`.
    pub cpu_per_request_us: f64,
    /// `cpu_us / chunks` (0 when there were none).
    pub cpu_per_chunk_us: f64,
    /// Peak RSS of the process (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Idle workload only: RSS growth per open idle stream, KiB.
    pub idle_kib_per_stream: Option<f64>,
    /// Idle workload only: growth of the live heap (`mallinfo2`) per open idle stream, KiB.
    pub idle_heap_kib_per_stream: Option<f64>,
    /// Kept workload only: growth of the live heap per kept chat answer, KiB.
    #[serde(default)]
    pub kept_heap_kib_per_answer: Option<f64>,
}
