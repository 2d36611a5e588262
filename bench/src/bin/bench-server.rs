//! The canned-answer server: OpenAI-shaped answers on loopback for as little CPU as possible
//! (pre-serialised bodies, one thread, no JSON parsing). Runs in its own process so the
//! client's `getrusage` sees only the client.
//!
//! `bench-server [--port 0] [--pace-us 1000]` prints `LISTENING http://127.0.0.1:PORT` and
//! serves until killed. Routes:
//! - `POST …/chat/completions`: the chat answer, or an SSE stream when the body says
//!   `"stream":true`, shaped by the first path segment (`/paced`, `/burst`, `/idle`);
//! - `POST …/embeddings`: 16 × 1536 floats, base64 when the body asks for it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use mishika_bench::StreamMode;
use mishika_bench::payload::Canned;
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};

type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

struct State {
    canned: Canned,
    pace: Duration,
}

fn main() {
    let mut port = 0u16;
    let mut pace_us = 1000u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match arg.as_str() {
            "--port" => port = value().parse().expect("--port takes a number"),
            "--pace-us" => pace_us = value().parse().expect("--pace-us takes microseconds"),
            other => {
                panic!("unknown argument {other}; usage: bench-server [--port N] [--pace-us N]")
            }
        }
    }
    mishika_bench::measure::raise_fd_limit();
    let state = Arc::new(State {
        canned: Canned::new(),
        pace: Duration::from_micros(pace_us),
    });
    // One thread: on a 2-core machine the other core belongs to the client under test.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(serve(state, port));
}

async fn serve(state: Arc<State>, port: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    println!("LISTENING http://{address}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Each SSE event is its own small write: without NODELAY, Nagle would hold it back.
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&state), request));
            // Errors here are clients hanging up mid-stream (the idle workload does that).
            // HTTP/1.1, or HTTP/2 with prior knowledge (the idle-h2 workload).
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(Some(4096));
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let path = request.uri().path().to_owned();
    // The request body is read whole (it is small) but never parsed: a substring decides.
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let canned = &state.canned;
    let response = if path.ends_with("/chat/completions") {
        if memchr::memmem::find(&body, b"\"stream\":true").is_some() {
            sse(&state, StreamMode::from_path(&path))
        } else {
            json(canned.chat.clone())
        }
    } else if path.ends_with("/embeddings") {
        if memchr::memmem::find(&body, b"\"encoding_format\":\"base64\"").is_some() {
            json(canned.embedding_base64.clone())
        } else {
            json(canned.embedding_float.clone())
        }
    } else {
        let mut response = Response::new(full(Bytes::from_static(
            b"{\"error\":{\"message\":\"not found\"}}",
        )));
        *response.status_mut() = StatusCode::NOT_FOUND;
        response
    };
    Ok(response)
}

fn full(bytes: Bytes) -> ResponseBody {
    Full::new(bytes).boxed_unsync()
}

/// Headers a LiteLLM-style gateway sends on every answer (mishika reads them as metadata).
fn gateway_headers(response: &mut Response<ResponseBody>, content_type: &'static str) {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        "x-litellm-call-id",
        HeaderValue::from_static("5f0b6c1e-3a51-4e0e-9d43-0a1f7d3c2b11"),
    );
    headers.insert(
        "x-litellm-response-cost",
        HeaderValue::from_static("3.6e-05"),
    );
}

fn json(bytes: Bytes) -> Response<ResponseBody> {
    let mut response = Response::new(full(bytes));
    gateway_headers(&mut response, "application/json");
    response
}

fn sse(state: &State, mode: StreamMode) -> Response<ResponseBody> {
    let body = match mode {
        StreamMode::Burst => full(state.canned.burst.clone()),
        StreamMode::Paced => {
            Paced::new(state.canned.events.clone(), state.pace, false).boxed_unsync()
        }
        StreamMode::Idle => {
            Paced::new(state.canned.events.clone(), state.pace, true).boxed_unsync()
        }
    };
    let mut response = Response::new(body);
    gateway_headers(&mut response, "text/event-stream");
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A streamed answer that sends one event per `pace` (the first at once), as a model emits
/// tokens; hyper flushes each one as its own write because the body is pending in between.
/// With `idle_after_first`, it sends the first event and then nothing until the client
/// hangs up.
struct Paced {
    events: Vec<Bytes>,
    next: usize,
    pace: Duration,
    sleep: Pin<Box<Sleep>>,
    idle_after_first: bool,
}

impl Paced {
    fn new(events: Vec<Bytes>, pace: Duration, idle_after_first: bool) -> Paced {
        Paced {
            events,
            next: 0,
            pace,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            idle_after_first,
        }
    }
}

impl Body for Paced {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.next >= this.events.len() {
            return Poll::Ready(None);
        }
        if this.next > 0 {
            if this.idle_after_first {
                return Poll::Pending; // never woken: silent until the connection closes
            }
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let event = this.events[this.next].clone();
        this.next += 1;
        let deadline = Instant::now() + this.pace;
        this.sleep.as_mut().reset(deadline);
        Poll::Ready(Some(Ok(Frame::data(event))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.events.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
