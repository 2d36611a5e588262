//! mishika built without its `reqwest` feature: a client with no transport is a `Config`
//! error that says what to do, and so are the free functions; with a transport of its own,
//! the providers, the router, retries and settings all work. Exits non-zero (a panic) if
//! anything goes otherwise.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mishika::core::reexports::{bytes::Bytes, http};
use mishika::{
    Body, ChatMessage, ChatRequest, Client, Deployment, ErrorKind, Router, Transport,
    TransportError, TransportErrorKind, TransportFuture,
};

/// Answers `503` to the first `fail_first` requests, then a chat answer; keeps the URIs.
#[derive(Debug, Default)]
struct Canned {
    fail_first: usize,
    sent: AtomicUsize,
    uris: Mutex<Vec<String>>,
}

impl Transport for Canned {
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut uris) = self.uris.lock() {
            uris.push(request.uri().to_string());
        }
        let (status, body) = if n < self.fail_first {
            (503, r#"{"error":{"message":"busy"}}"#)
        } else {
            (
                200,
                r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}"#,
            )
        };
        Box::pin(async move {
            http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))
        })
    }
}

fn chat(model: &str) -> ChatRequest {
    ChatRequest::new(model, [ChatMessage::user("hello")])
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut passed = 0;

    // No transport: a typed Config error naming the feature and the way out.
    for error in [
        Client::builder().build().unwrap_err(),
        Client::new().unwrap_err(),
        mishika::completion(chat("mishikallm_proxy/m"))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(error.kind(), ErrorKind::Config, "{error}");
        let text = error.to_string();
        assert!(text.contains("`reqwest` feature"), "{text}");
        assert!(text.contains("ClientBuilder::transport"), "{text}");
        passed += 1;
    }

    // A transport of its own: the built-in proxy provider, with a retry after a 503.
    let transport = Arc::new(Canned {
        fail_first: 1,
        ..Canned::default()
    });
    let client = Client::builder()
        .api_base("http://gateway.invalid:4000")
        .api_key("sk-no-reqwest")
        .transport(transport.clone())
        .build()
        .expect("a client over its own transport");
    let answer = client
        .chat(chat("mishikallm_proxy/gpt-4o-mini"))
        .await
        .expect("chat answers after one retry");
    assert_eq!(answer.content(), Some("hi"));
    assert_eq!(transport.sent.load(Ordering::SeqCst), 2, "one retry");
    passed += 1;

    // The router: a model group over two deployments.
    let router = Router::builder()
        .deployment(Deployment::new("group", "mishikallm_proxy/a").id("a"))
        .deployment(Deployment::new("group", "mishikallm_proxy/b").id("b"))
        .build()
        .expect("a router");
    let transport = Arc::new(Canned::default());
    let client = Client::builder()
        .api_base("http://gateway.invalid:4000")
        .api_key("sk-no-reqwest")
        .router(router)
        .transport(transport.clone())
        .build()
        .expect("a client with a router");
    let answer = client.chat(chat("group")).await.expect("routed chat");
    assert_eq!(answer.content(), Some("hi"));
    let uris = transport.uris.lock().expect("not poisoned").clone();
    assert_eq!(uris.len(), 1, "{uris:?}");
    assert!(uris[0].ends_with("/chat/completions"), "{uris:?}");
    passed += 1;

    println!("no-reqwest: {passed} passed, 0 failed");
}
