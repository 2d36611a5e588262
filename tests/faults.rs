//! Connection faults over raw loopback sockets, where what reqwest does is the question:
//! connections closed before an answer, answers cut after their head, stalled error bodies,
//! redirects, streams kept alive forever, huge durations, and what the errors then say.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mishika::{
    ChatMessage, ChatRequest, Client, ErrorKind, HttpTransport, ProviderSettings, RetryPolicy,
    TimeoutPhase,
};
use mishika_mock::{MockGateway, ScriptedResponse};

/// What the raw server does with one request, once it has read it whole.
enum Reply {
    /// Close the connection without sending a byte.
    Close,
    /// Send these bytes and keep the connection for the next request.
    Send(Vec<u8>),
    /// Send these bytes, then close.
    SendThenClose(Vec<u8>),
    /// Send these bytes, then nothing more, holding the connection until the client goes.
    SendThenStall(Vec<u8>),
    /// Send these bytes, then `tick` every `every` until the client goes.
    SendThenTick {
        head: Vec<u8>,
        tick: &'static [u8],
        every: Duration,
    },
}

/// One request as the raw server read it.
#[derive(Debug, Clone)]
struct RawRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct RawState {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<RawRequest>>,
    connections: AtomicUsize,
}

/// An HTTP/1.1 server written on `std::net` that answers each request with the next
/// scripted [`Reply`] (a chat answer saying `ok` when none is left). Bound before it is
/// returned, so it is ready at once.
struct RawServer {
    addr: SocketAddr,
    state: Arc<RawState>,
}

impl RawServer {
    fn start(replies: impl IntoIterator<Item = Reply>) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(RawState::default());
        state.replies.lock().unwrap().extend(replies);
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        RawServer { addr, state }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<RawRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, state: &RawState) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        state.requests.lock().unwrap().push(request);
        let reply = state
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Reply::Send(chat_answer("ok")));
        match reply {
            Reply::Close => return,
            Reply::Send(bytes) => {
                if writer.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::SendThenClose(bytes) => {
                let _ = writer.write_all(&bytes);
                return;
            }
            Reply::SendThenStall(bytes) => {
                let _ = writer.write_all(&bytes);
                // Hold the connection until the client closes it.
                let mut sink = [0u8; 1024];
                while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
                return;
            }
            Reply::SendThenTick { head, tick, every } => {
                let _ = writer.write_all(&head);
                // Pacing the ticks, not waiting for readiness.
                while writer.write_all(tick).is_ok() {
                    std::thread::sleep(every);
                }
                return;
            }
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<RawRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(RawRequest {
        method,
        path,
        headers,
        body,
    })
}

fn http_answer(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut answer = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        answer.push_str(&format!("{name}: {value}\r\n"));
    }
    answer.push_str("\r\n");
    let mut bytes = answer.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn chat_body(content: &str) -> String {
    format!(
        r#"{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}"}}}}]}}"#
    )
}

fn chat_answer(content: &str) -> Vec<u8> {
    http_answer(
        "200 OK",
        &[("content-type", "application/json")],
        chat_body(content).as_bytes(),
    )
}

/// An SSE answer's head, with no length: the body runs until the connection closes.
const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";

fn sse_frame(content: &str) -> String {
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}}}}]}}\n\n")
}

/// Fast backoff so the tests measure policy, not patience.
fn quick_policy(retries: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(retries)
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(40))
        .max_retry_after(Duration::from_secs(60))
}

fn client_for(base: &str, retries: u32) -> Client {
    Client::builder()
        .api_base(base)
        .retry_policy(quick_policy(retries))
        .build()
        .unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new("mishikallm_proxy/m", [ChatMessage::user(text)])
}

/// Every error in `error`'s source chain, as text, outermost first.
fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut texts = Vec::new();
    let mut next = error.source();
    while let Some(source) = next {
        texts.push(source.to_string());
        next = source.source();
    }
    texts
}

/// The first `std::io::Error` in `error`'s source chain.
fn io_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut next = error.source();
    while let Some(source) = next {
        if let Some(io) = source.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        next = source.source();
    }
    None
}

// ---- 1. A connection closed before any answer is retried -----------------------------

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_retried() {
    let server = RawServer::start([Reply::Close]);
    let response = client_for(&server.base_url(), 2)
        .chat(ask("x"))
        .await
        .unwrap();
    assert_eq!(response.content(), Some("ok"));
    let seen = server.requests();
    assert_eq!(seen.len(), 2, "the request, then its retry");
    assert_eq!(server.connections(), 2);
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].path, "/v1/chat/completions");
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_is_retried_on_a_new_one() {
    // The first call leaves its connection in the pool; the server reads the second
    // request on it and closes it unanswered, as a gateway timing out idle connections does.
    let server = RawServer::start([Reply::Send(chat_answer("first")), Reply::Close]);
    let client = client_for(&server.base_url(), 1);
    assert_eq!(
        client.chat(ask("a")).await.unwrap().content(),
        Some("first")
    );
    assert_eq!(client.chat(ask("b")).await.unwrap().content(), Some("ok"));
    assert_eq!(server.requests().len(), 3);
    assert_eq!(server.connections(), 2, "the retry opened a new connection");
}

#[tokio::test]
async fn a_stream_whose_connection_closes_before_its_head_is_retried() {
    let mut sse = SSE_HEAD.as_bytes().to_vec();
    sse.extend_from_slice(sse_frame("streamed").as_bytes());
    sse.extend_from_slice(b"data: [DONE]\n\n");
    let server = RawServer::start([Reply::Close, Reply::SendThenClose(sse)]);
    let items: Vec<_> = client_for(&server.base_url(), 1)
        .chat_stream(ask("x"))
        .await
        .unwrap()
        .collect()
        .await;
    let text: String = items
        .iter()
        .map(|item| item.as_ref().unwrap().content().unwrap_or_default())
        .collect();
    assert_eq!(text, "streamed");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_connection_closed_unanswered_says_so_when_retries_run_out() {
    let server = RawServer::start([Reply::Close, Reply::Close]);
    let error = client_for(&server.base_url(), 1)
        .chat(ask("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert!(error.is_retryable());
    assert_eq!(server.requests().len(), 2);
    let text = error.to_string();
    assert_eq!(
        text,
        format!(
            "APIConnectionError: the connection to {} closed before an answer arrived: \
             connection closed before message completed",
            server.addr
        )
    );
    assert!(!text.contains("could not be sent"), "{text}");
}

// ---- 2. A JSON answer cut after its head is retried ----------------------------------

#[tokio::test]
async fn a_json_answer_cut_after_its_head_is_retried() {
    let whole = chat_body("cut");
    let cut = http_answer(
        "200 OK",
        &[("content-type", "application/json")],
        whole.as_bytes(),
    );
    // The head and 20 bytes of the body, then the connection closes.
    let head_len = cut.len() - whole.len();
    let server = RawServer::start([Reply::SendThenClose(cut[..head_len + 20].to_vec())]);
    let response = client_for(&server.base_url(), 1)
        .chat(ask("x"))
        .await
        .unwrap();
    assert_eq!(response.content(), Some("ok"));
    assert_eq!(server.requests().len(), 2);

    // Out of retries, the cut is a connection error that says what broke.
    let server = RawServer::start([Reply::SendThenClose(cut[..head_len + 20].to_vec())]);
    let error = client_for(&server.base_url(), 0)
        .chat(ask("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_cut_json_answer_from_the_gateway_is_retried_and_a_long_one_is_not_copied_whole() {
    let gateway = MockGateway::start().await.unwrap();
    let body = chat_body("from the first attempt");
    gateway.push_response(
        ScriptedResponse::status(200)
            .body(body.clone())
            .header("content-type", "application/json")
            .chunk_size(16)
            .drop_after(40),
    );
    let client = client_for(&gateway.base_url(), 2);
    let response = client.chat(ask("second")).await.unwrap();
    assert_eq!(response.content(), Some("second"));
    assert_eq!(gateway.request_count(), 2);

    // A body in many chunks arrives whole.
    gateway.push_response(
        ScriptedResponse::status(200)
            .body(body)
            .header("content-type", "application/json")
            .chunk_size(7),
    );
    let response = client.chat(ask("x")).await.unwrap();
    assert_eq!(response.content(), Some("from the first attempt"));
    assert_eq!(gateway.request_count(), 3);
}

// ---- 3. A retry wait past the request deadline is not slept ---------------------------

#[tokio::test]
async fn a_retry_wait_past_the_request_deadline_returns_the_answer_at_once() {
    let gateway = MockGateway::start().await.unwrap();
    // Per client and per request.
    for per_request in [false, true] {
        gateway.clear_requests();
        gateway.push_response(
            ScriptedResponse::error(429, "slow down", "rate_limit", "429")
                .header("retry-after", "30"),
        );
        let mut builder = Client::builder()
            .api_base(gateway.base_url())
            .retry_policy(quick_policy(3));
        let mut request = ask("x");
        if per_request {
            request = request.timeout(Duration::from_secs(1));
        } else {
            builder = builder.timeout(Duration::from_secs(1));
        }
        let started = Instant::now();
        let error = builder.build().unwrap().chat(request).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.kind(), ErrorKind::RateLimit, "{error}");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(error.status().map(|s| s.as_u16()), Some(429));
        assert_eq!(gateway.request_count(), 1);
        assert!(took < Duration::from_millis(900), "{took:?}");
    }

    // A wait that fits is still waited, and the retry answers.
    gateway.clear_requests();
    gateway.push_response(
        ScriptedResponse::error(429, "slow down", "rate_limit", "429")
            .header("retry-after-ms", "100"),
    );
    let response = client_for(&gateway.base_url(), 3)
        .chat(ask("fits").timeout(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(response.content(), Some("fits"));
    assert_eq!(gateway.request_count(), 2);
}

// ---- 4. An error body that stalls is read under the idle timeout ----------------------

#[tokio::test]
async fn a_stalled_error_body_is_given_up_after_the_idle_timeout_and_retried() {
    let stalled = {
        let mut head = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n".to_vec();
        head.extend_from_slice(br#"{"error":{"message":"warm"#);
        head
    };
    let server = RawServer::start([Reply::SendThenStall(stalled.clone())]);
    let client = Client::builder()
        .api_base(server.base_url())
        .retry_policy(quick_policy(1))
        .stream_idle_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let started = Instant::now();
    let response = client.chat(ask("x")).await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.content(), Some("ok"));
    assert_eq!(server.requests().len(), 2);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // A request's own idle timeout beats the client's.
    let server = RawServer::start([Reply::SendThenStall(stalled)]);
    let client = Client::builder()
        .api_base(server.base_url())
        .retry_policy(quick_policy(1))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let started = Instant::now();
    let response = client
        .chat(ask("x").stream_idle_timeout(Duration::from_millis(200)))
        .await
        .unwrap();
    assert_eq!(response.content(), Some("ok"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ---- 5. Redirects ---------------------------------------------------------------------

#[tokio::test]
async fn a_redirect_that_would_turn_the_post_into_a_get_is_an_error_naming_it() {
    for status in ["301 Moved Permanently", "302 Found", "303 See Other"] {
        let elsewhere = RawServer::start([]);
        let location = format!("{}/v1/chat/completions", elsewhere.base_url());
        let server = RawServer::start([Reply::Send(http_answer(
            status,
            &[("location", &location)],
            b"",
        ))]);
        let client = Client::builder()
            .api_base(server.base_url())
            .api_key("sk-not-for-elsewhere")
            .retry_policy(quick_policy(2))
            .build()
            .unwrap();
        let error = client.chat(ask("x")).await.unwrap_err();
        let code: u16 = status[..3].parse().unwrap();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(code));
        assert_eq!(error.kind(), ErrorKind::ApiStatus);
        assert!(!error.is_retryable());
        let message = error.message();
        assert!(message.contains(&format!("`{location}`")), "{message}");
        assert!(message.contains(status), "{message}");
        assert_eq!(server.requests().len(), 1, "{status}: not retried");
        assert_eq!(elsewhere.requests().len(), 0, "{status}: not followed");
    }
}

#[tokio::test]
async fn a_307_to_the_same_origin_is_followed_with_the_same_post() {
    let server = RawServer::start([Reply::Send(http_answer(
        "307 Temporary Redirect",
        &[("location", "/v2/chat/completions")],
        b"",
    ))]);
    let client = Client::builder()
        .api_base(server.base_url())
        .api_key("sk-same-origin")
        .build()
        .unwrap();
    let response = client.chat(ask("moved")).await.unwrap();
    assert_eq!(response.content(), Some("ok"));
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].path, "/v2/chat/completions");
    assert_eq!(seen[1].body, seen[0].body);
    assert_eq!(
        seen[1].header("authorization"),
        Some("Bearer sk-same-origin")
    );
}

#[tokio::test]
async fn no_redirect_carries_credentials_to_another_origin() {
    for status in ["307 Temporary Redirect", "308 Permanent Redirect"] {
        let elsewhere = RawServer::start([]);
        let location = format!("{}/v1/messages", elsewhere.base_url());
        let server = RawServer::start([Reply::Send(http_answer(
            status,
            &[("location", &location)],
            b"",
        ))]);
        // Anthropic's key travels as x-api-key, which reqwest would not strip itself.
        let client = Client::builder()
            .provider_settings(
                "anthropic",
                ProviderSettings::new()
                    .api_base(server.base_url())
                    .api_key("sk-ant-secret"),
            )
            .build()
            .unwrap();
        let error = client
            .chat(ChatRequest::new(
                "anthropic/claude",
                [ChatMessage::user("x")],
            ))
            .await
            .unwrap_err();
        let code: u16 = status[..3].parse().unwrap();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(code));
        assert!(error.message().contains(&location), "{error}");
        assert_eq!(server.requests().len(), 1);
        assert_eq!(
            server.requests()[0].header("x-api-key"),
            Some("sk-ant-secret")
        );
        assert_eq!(elsewhere.requests().len(), 0, "{status}");
    }
}

// ---- 6. Huge durations mean no limit --------------------------------------------------

/// Panics anywhere in the process (spawned tasks included) whose message says an instant
/// overflowed.
static OVERFLOWS: AtomicUsize = AtomicUsize::new(0);

#[tokio::test]
async fn duration_max_everywhere_is_no_limit_not_a_panic() {
    // A panic in a task the HTTP stack spawns would not fail the test by itself.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.to_string().contains("overflow when adding duration") {
            OVERFLOWS.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    let gateway = MockGateway::start().await.unwrap();
    let transport = HttpTransport::builder()
        .connect_timeout(Duration::MAX)
        .request_timeout(Duration::MAX)
        .pool_idle_timeout(Duration::MAX)
        .build()
        .unwrap();
    let client = Client::builder()
        .api_base(gateway.base_url())
        .transport(Arc::new(transport))
        .timeout(Duration::MAX)
        .stream_idle_timeout(Duration::MAX)
        .stream_deadline(Duration::MAX)
        .connect_timeout(Duration::MAX)
        .retry_policy(
            quick_policy(1)
                .deadline(Duration::MAX)
                .max_retry_after(Duration::MAX),
        )
        .build()
        .unwrap();
    let huge = |request: ChatRequest| {
        request
            .timeout(Duration::MAX)
            .stream_idle_timeout(Duration::MAX)
            .stream_deadline(Duration::MAX)
            .retry_deadline(Duration::MAX)
    };
    gateway.push_response(ScriptedResponse::error(503, "busy", "busy", "503"));
    let response = client.chat(huge(ask("plain"))).await.unwrap();
    assert_eq!(response.content(), Some("plain"));
    assert_eq!(gateway.request_count(), 2);
    for request in [huge(ask("streamed")), ask("streamed")] {
        let mut stream = client.chat_stream(request).await.unwrap();
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(chunk.unwrap().content().unwrap_or_default());
        }
        assert_eq!(text, "streamed");
    }

    // The default client, with only per-request huge values.
    let client = client_for(&gateway.base_url(), 1);
    gateway.push_response(
        ScriptedResponse::error(429, "slow", "rate_limit", "429").header("retry-after-ms", "10"),
    );
    let response = client.chat(huge(ask("again"))).await.unwrap();
    assert_eq!(response.content(), Some("again"));
    let items: Vec<_> = client
        .chat_stream(huge(ask("s")))
        .await
        .unwrap()
        .collect()
        .await;
    let text: String = items
        .iter()
        .map(|item| item.as_ref().unwrap().content().unwrap_or_default())
        .collect();
    assert_eq!(text, "s");
    // Give the connection pool's idle task its turn.
    tokio::task::yield_now().await;
    assert_eq!(OVERFLOWS.load(Ordering::SeqCst), 0);
}

// ---- 7. A whole-stream deadline -------------------------------------------------------

/// A stream that sends one chunk, then a keep-alive comment every 50 ms, forever.
fn kept_alive_forever() -> Reply {
    let mut head = SSE_HEAD.as_bytes().to_vec();
    head.extend_from_slice(sse_frame("first").as_bytes());
    Reply::SendThenTick {
        head,
        tick: b": keep-alive\n\n",
        every: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn keep_alives_reset_the_idle_timer_and_the_stream_deadline_cuts_them() {
    // Keep-alives are bytes arriving: the 200 ms idle timer never fires.
    let server = RawServer::start([kept_alive_forever()]);
    let client = Client::builder()
        .api_base(server.base_url())
        .stream_idle_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut stream = client.chat_stream(ask("x")).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap().content(),
        Some("first")
    );
    let waited = tokio::time::timeout(Duration::from_millis(800), stream.next()).await;
    assert!(
        waited.is_err(),
        "still open after 4 idle periods: {waited:?}"
    );
    drop(stream);

    // The client's stream deadline ends it, counted from the request.
    for per_request in [false, true] {
        let server = RawServer::start([kept_alive_forever()]);
        let mut builder = Client::builder()
            .api_base(server.base_url())
            .stream_idle_timeout(Duration::from_millis(200));
        let mut request = ask("x");
        if per_request {
            request = request.stream_deadline(Duration::from_millis(600));
            builder = builder.stream_deadline(Duration::from_secs(3600));
        } else {
            builder = builder.stream_deadline(Duration::from_millis(600));
        }
        let client = builder.build().unwrap();
        let started = Instant::now();
        let stream = client.chat_stream(request).await.unwrap();
        // Bounded, so that a stream the deadline fails to cut fails the test.
        let items: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect())
            .await
            .expect("the stream deadline ends the stream");
        let took = started.elapsed();
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().content(), Some("first"));
        let error = items[1].as_ref().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Timeout);
        assert_eq!(error.timeout_phase(), Some(TimeoutPhase::StreamDeadline));
        assert!(took >= Duration::from_millis(600), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert_eq!(
            server.requests().len(),
            1,
            "a started stream is never retried"
        );
    }
}

#[tokio::test]
async fn the_stream_deadline_cuts_a_stream_whose_data_keeps_flowing() {
    let gateway = MockGateway::start().await.unwrap();
    let frame = r#"{"choices":[{"index":0,"delta":{"content":"."}}]}"#;
    let frames: Vec<&str> = std::iter::repeat_n(frame, 400).chain(["[DONE]"]).collect();
    gateway.push_response(
        ScriptedResponse::sse(frames)
            .chunk_size(frame.len() + 8)
            .chunk_delay(Duration::from_millis(5)),
    );
    let client = client_for(&gateway.base_url(), 0);
    let started = Instant::now();
    let stream = client
        .chat_stream(ask("x").stream_deadline(Duration::from_millis(300)))
        .await
        .unwrap();
    let items: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect())
        .await
        .expect("the stream deadline ends the stream");
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(last.timeout_phase(), Some(TimeoutPhase::StreamDeadline));
    assert!(items.len() > 1 && items.len() < 400, "{}", items.len());
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ---- 8. Errors that say what happened -------------------------------------------------

#[tokio::test]
async fn a_refused_connection_shows_its_cause_once() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = client_for(&format!("http://{addr}"), 0)
        .chat(ask("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
    let io = io_cause(&error).expect("the io::Error is in the source chain");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    let text = error.to_string();
    assert_eq!(
        text,
        format!("APIConnectionError: could not connect to {addr}: {io}")
    );
    assert_eq!(text.matches(&io.to_string()).count(), 1, "{text}");
    assert!(!text.contains("error sending request"), "{text}");
    // The source shows the root cause; reqwest's own error stays in the chain below it.
    let sources = chain(&error);
    assert_eq!(sources[0], io.to_string());
    assert!(sources.len() > 2, "{sources:?}");
}

#[tokio::test]
async fn a_failure_through_a_proxy_names_the_proxy_and_hides_its_credentials() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap();
    drop(listener);
    let transport = HttpTransport::builder()
        .proxy(format!("http://user:proxy-secret@{proxy}"))
        .build()
        .unwrap();
    let client = Client::builder()
        .api_base("http://gateway.internal:4000")
        .transport(Arc::new(transport))
        .num_retries(0)
        .build()
        .unwrap();
    let error = client.chat(ask("x")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
    let text = error.to_string();
    let io = io_cause(&error).unwrap();
    assert_eq!(
        text,
        format!(
            "APIConnectionError: could not connect to gateway.internal:4000 through the proxy \
             http://{proxy} (set with HttpTransportBuilder::proxy): {io}"
        )
    );
    assert!(!format!("{text}{error:?}").contains("proxy-secret"));
}

#[tokio::test]
async fn a_tls_failure_shows_its_cause_once() {
    // An `https://` base whose server speaks plain HTTP: the TLS handshake fails.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let mut hello = [0u8; 512];
            let _ = stream.read(&mut hello);
            let _ = stream.write_all(&http_answer("400 Bad Request", &[], b"plain HTTP here"));
        }
    });
    let error = client_for(&format!("https://{addr}"), 2)
        .chat(ask("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    let text = error.to_string();
    let prefix = format!("APIConnectionError: could not connect to {addr}: ");
    assert!(text.starts_with(&prefix), "{text}");
    // The root cause (rustls' complaint about the answer), once, and no URL repeated.
    let cause = &text[prefix.len()..];
    assert!(
        !cause.is_empty() && !cause.contains("error sending request"),
        "{text}"
    );
    assert_eq!(text.matches(cause).count(), 1, "{text}");
    assert_eq!(chain(&error).first().map(String::as_str), Some(cause));
    // A failed connection is retried like a refused one (as the OpenAI SDKs do): 1 + 2.
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "{text}");
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_a_decode_error_and_not_retried() {
    let server = RawServer::start([Reply::SendThenClose(
        b"HTTP/1.1 abc nonsense\r\n\r\n".to_vec(),
    )]);
    let error = client_for(&server.base_url(), 2)
        .chat(ask("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
    assert!(
        error.message().starts_with(&format!(
            "the answer from {} is not valid HTTP",
            server.addr
        )),
        "{error}"
    );
    assert!(!error.to_string().contains("could not be sent"));
    assert_eq!(server.requests().len(), 1);
}

// ---- 9. A bad header reads once --------------------------------------------------------

/// The one `Config` error of the value `bad\nvalue` for the header `x-ok`, with http's
/// parse error as its source.
fn assert_bad_header_value(error: &mishika::Error) {
    assert_eq!(error.kind(), ErrorKind::Config);
    assert_eq!(
        error.to_string(),
        "ConfigError: invalid value for header x-ok: failed to parse header value"
    );
    assert_eq!(
        std::error::Error::source(error).unwrap().to_string(),
        "failed to parse header value"
    );
}

#[tokio::test]
async fn an_invalid_request_header_is_one_config_error_with_its_cause() {
    let client = client_for("http://127.0.0.1:9", 0);
    let error = client
        .chat(ask("x").header("x-ok", "bad\nvalue"))
        .await
        .unwrap_err();
    assert_bad_header_value(&error);
    let error = client
        .chat(ask("x").header("bad name", "v"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "ConfigError: invalid header name \"bad name\": invalid HTTP header name"
    );
    // The request stays cloneable and reports the same error from every clone.
    let request = ask("x").header("x-ok", "bad\nvalue");
    let copy = request.clone();
    for request in [request, copy] {
        let error = client.chat(request).await.unwrap_err();
        assert_eq!(error.message(), "invalid value for header x-ok");
    }
}

#[test]
fn an_invalid_settings_header_is_one_config_error_with_its_cause() {
    // On the builder (the proxy's settings) and in any provider's settings alike.
    let built = [
        Client::builder().header("x-ok", "bad\nvalue").build(),
        Client::builder()
            .provider_settings(
                "openai",
                ProviderSettings::new().header("x-ok", "bad\nvalue"),
            )
            .build(),
    ];
    for result in built {
        assert_bad_header_value(&result.unwrap_err());
    }
    let error =
        mishika::set_provider_settings("mine", ProviderSettings::new().header("bad name", "v"))
            .unwrap_err();
    assert_eq!(
        error.to_string(),
        "ConfigError: invalid header name \"bad name\": invalid HTTP header name"
    );
    assert!(std::error::Error::source(&error).is_some());
}

// ---- 10. A 401 with no key says how to set one ----------------------------------------

#[tokio::test]
async fn a_401_without_a_key_says_how_to_set_one() {
    let gateway = MockGateway::builder()
        .api_key("sk-wanted")
        .start()
        .await
        .unwrap();
    let client = client_for(&gateway.base_url(), 0);
    let error = client.chat(ask("x")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication);
    let message = error.message();
    assert!(
        message.contains(
            "no API key is set for provider `mishikallm_proxy`, so none was sent: set one on \
             the request (`.api_key(..)`)"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("or the environment variable MISHIKALLM_PROXY_API_KEY"),
        "{message}"
    );

    // With a (wrong) key, the server's word alone.
    let error = client.chat(ask("x").api_key("sk-wrong")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert!(!error.message().contains("no API key"), "{error}");

    // Any provider names its own variable.
    let client = Client::builder()
        .provider_settings(
            "anthropic",
            ProviderSettings::new().api_base(gateway.base_url()),
        )
        .build()
        .unwrap();
    let error = client
        .chat(ChatRequest::new(
            "anthropic/claude",
            [ChatMessage::user("x")],
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication, "{error}");
    assert!(
        error
            .message()
            .ends_with("or the environment variable ANTHROPIC_API_KEY"),
        "{error}"
    );
}
