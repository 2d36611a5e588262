//! A name that does not resolve: the error says which host and why, once, without reqwest's
//! repeated "error sending request for url (…)". The failing resolver stands in for DNS so the
//! test needs no network beyond this process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use mishika_core::{Transport, TransportErrorKind};
use mishika_http::HttpTransport;
use reqwest::dns::{Name, Resolve, Resolving};

/// A resolver that knows no name.
struct NoSuchHost;

impl Resolve for NoSuchHost {
    fn resolve(&self, name: Name) -> Resolving {
        let error = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no such host: {}", name.as_str()),
        );
        Box::pin(std::future::ready(Err(error.into())))
    }
}

#[tokio::test]
async fn a_name_that_does_not_resolve_says_so_once() {
    // A reqwest built without a TLS provider of its own (the `rustls-ring` build) needs one
    // installed to build a client; harmless for the other builds.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(NoSuchHost)
        .build()
        .unwrap();
    let transport = HttpTransport::from_client(client);
    let request = http::Request::post("http://gateway.invalid:4000/v1/chat/completions")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    let error = transport.send(request).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{error}");
    let text = error.to_string();
    assert_eq!(
        text,
        "Connect: could not connect to gateway.invalid:4000: no such host: gateway.invalid"
    );
    // The cause keeps reqwest's own error beneath it, for code that wants it.
    let cause = std::error::Error::source(&error).unwrap();
    assert_eq!(cause.to_string(), "no such host: gateway.invalid");
    assert!(cause.source().unwrap().is::<reqwest::Error>());
}
