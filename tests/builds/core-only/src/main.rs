//! A chat call through a `Provider` and a `Transport` written against mishika-core alone,
//! driven by a few lines of executor: no HTTP client, no async runtime. Exits non-zero
//! (a panic) if the call does not go as asserted.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use mishika_core::reexports::{async_trait, bytes::Bytes, http, serde_json};
use mishika_core::{
    ApiKey, Body, Call, ChatMessage, ChatRequest, ChatResponse, Provider, Result, Transport,
    TransportFuture,
};

/// An OpenAI-compatible provider: one JSON `POST` per chat.
#[derive(Debug)]
struct Compatible;

#[async_trait]
impl Provider for Compatible {
    fn name(&self) -> &str {
        "compatible"
    }

    async fn chat(&self, call: &Call, request: ChatRequest) -> Result<ChatResponse> {
        call.send_json(call.json_request("chat/completions", &request)?)
            .await
    }
}

/// Answers from memory and keeps what it was sent.
#[derive(Debug, Default)]
struct Canned {
    seen: Mutex<Vec<http::Request<Bytes>>>,
}

impl Transport for Canned {
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        let model = serde_json::from_slice::<serde_json::Value>(request.body())
            .ok()
            .and_then(|body| body["model"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(request);
        }
        let answer = serde_json::json!({
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello back"}}],
        });
        Box::pin(async move {
            http::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(answer.to_string()))
                .map_err(|e| {
                    mishika_core::TransportError::new(
                        mishika_core::TransportErrorKind::Other,
                        e.to_string(),
                    )
                })
        })
    }
}

/// Wakes by unparking the thread that polls.
struct Unpark(std::thread::Thread, AtomicUsize);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.unpark();
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(
        std::thread::current(),
        AtomicUsize::new(0),
    )));
    let mut context = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

fn main() {
    let transport = Arc::new(Canned::default());
    let call = Call::new(transport.clone(), "compatible")
        .with_api_base(Some("http://gateway.invalid:4000".into()))
        .with_api_key(Some(ApiKey::new("sk-core-only")));
    let request = ChatRequest::new("my-model", [ChatMessage::user("hello")]);
    let response = block_on(Compatible.chat(&call, request)).expect("the call succeeds");
    assert_eq!(response.content(), Some("hello back"));
    assert_eq!(response.model.as_deref(), Some("my-model"));

    let seen = transport.seen.lock().expect("not poisoned");
    assert_eq!(seen.len(), 1);
    let sent = &seen[0];
    assert_eq!(sent.method(), http::Method::POST);
    assert_eq!(
        sent.uri(),
        "http://gateway.invalid:4000/v1/chat/completions"
    );
    assert_eq!(sent.headers()["authorization"], "Bearer sk-core-only");
    let body: serde_json::Value = serde_json::from_slice(sent.body()).expect("JSON body");
    assert_eq!(body["messages"][0]["content"], "hello");
    println!("core-only: 1 passed, 0 failed");
}
