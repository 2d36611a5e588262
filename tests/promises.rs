//! The user's three promises: a provider or transport can be written against `mishika-core`
//! alone; the transport can be swapped; a custom provider sits beside the built-in one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use mishika::{ChatMessage, ChatRequest, Client, ErrorKind};
use mishika_core::reexports::async_trait;
use mishika_core::{Body, Call, ChatResponse, Provider, Result, Transport, TransportFuture};
use mishika_mock::MockGateway;
use serde_json::json;

/// A provider written with `mishika-core` only: answers from a fixed table, no I/O.
#[derive(Debug)]
struct Canned;

#[async_trait]
impl Provider for Canned {
    fn name(&self) -> &str {
        "canned"
    }

    async fn chat(&self, _call: &Call, request: ChatRequest) -> Result<ChatResponse> {
        let mut response: ChatResponse = serde_json::from_value(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("canned answer from {}", request.model)}}]
        }))
        .unwrap();
        response.model = Some(request.model);
        Ok(response)
    }
}

/// A transport written with `mishika-core` only: counts requests, forwards to another one.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn Transport>,
    sent: AtomicUsize,
}

impl Transport for Counting {
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.inner.send(request)
    }
}

#[tokio::test]
async fn custom_provider_beside_the_proxy() {
    let gateway = MockGateway::start().await.unwrap();
    let client = Client::builder()
        .api_base(gateway.base_url())
        .provider("canned", Canned)
        .build()
        .unwrap();
    assert_eq!(
        client.prefixes(),
        ["anthropic", "canned", "mishikallm_proxy", "openai"]
    );

    let canned = client
        .chat(ChatRequest::new("canned/small", [ChatMessage::user("x")]))
        .await
        .unwrap();
    assert_eq!(canned.content(), Some("canned answer from small"));
    assert_eq!(gateway.request_count(), 0);

    let proxied = client
        .chat(ChatRequest::new(
            "mishikallm_proxy/gpt-4o",
            [ChatMessage::user("y")],
        ))
        .await
        .unwrap();
    assert_eq!(proxied.content(), Some("y"));
    assert_eq!(gateway.request_count(), 1);

    // The provider did not implement streaming: a typed Unsupported error, not a panic.
    let error = client
        .chat_stream(ChatRequest::new("canned/small", [ChatMessage::user("x")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    assert_eq!(error.provider(), Some("canned"));
    assert_eq!(error.endpoint(), Some("chat_stream"));
}

#[tokio::test]
async fn user_transport_carries_every_request() {
    let gateway = MockGateway::start().await.unwrap();
    let counting = Arc::new(Counting {
        inner: Arc::new(mishika::HttpTransport::new().unwrap()),
        sent: AtomicUsize::new(0),
    });
    let client = Client::builder()
        .api_base(gateway.base_url())
        .transport(counting.clone())
        .build()
        .unwrap();
    let response = client
        .chat(ChatRequest::new(
            "mishikallm_proxy/m",
            [ChatMessage::user("through my transport")],
        ))
        .await
        .unwrap();
    assert_eq!(response.content(), Some("through my transport"));
    assert_eq!(counting.sent.load(Ordering::SeqCst), 1);
    assert_eq!(gateway.request_count(), 1);
}

#[tokio::test]
async fn mockall_transport_swaps_in() {
    let mut transport = mishika_core::MockTransport::new();
    transport
        .expect_send()
        .withf(|request| request.uri() == "http://mocked:4000/v1/chat/completions")
        .times(1)
        .returning(|_| {
            Ok(http::Response::new(Body::from(
                r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"from mockall"}}]}"#,
            )))
        });
    let client = Client::builder()
        .api_base("http://mocked:4000")
        .transport(Arc::new(transport))
        .build()
        .unwrap();
    let response = client
        .chat(ChatRequest::new(
            "mishikallm_proxy/m",
            [ChatMessage::user("x")],
        ))
        .await
        .unwrap();
    assert_eq!(response.content(), Some("from mockall"));
}
