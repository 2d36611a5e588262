//! Shared by the wire tests: a mockall transport that records requests and gives canned answers.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mishika::Client;
use mishika::core::MockTransport;

pub type Captured = Arc<Mutex<Vec<http::Request<Bytes>>>>;

/// A mock transport that records each request and answers `status` with `body` and `headers`.
pub fn mock(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (MockTransport, Captured) {
    let body: Bytes = body.into();
    let captured: Captured = Arc::default();
    let sink = Arc::clone(&captured);
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut transport = MockTransport::new();
    transport.expect_send().returning(move |request| {
        sink.lock().unwrap().push(request);
        let mut response = http::Response::builder().status(status);
        for (name, value) in &headers {
            response = response.header(name, value);
        }
        Ok(response.body(mishika::Body::from(body.clone())).unwrap())
    });
    (transport, captured)
}

pub fn client(transport: MockTransport, base: &str) -> Client {
    Client::builder()
        .api_base(base)
        .api_key("sk-test-123")
        // Wire tests look at one exchange; retries have their own tests.
        .num_retries(0)
        .transport(Arc::new(transport))
        .build()
        .unwrap()
}
