//! HTTPS over loopback against a TLS server of the test's own (tokio-rustls), for every TLS
//! backend this build has: the system's roots alone reject the test CA; the CA added as a
//! root PEM, or `danger_accept_invalid_certs`, let the request through; what ALPN offers
//! follows the `http2` feature. The certificates in `tests/tls/` (a CA and a certificate it
//! signed for `127.0.0.1` and `localhost`, valid 2000–2100) exist for these tests only.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mishika_core::{ErrorKind, Transport, TransportErrorKind};
use mishika_http::{HttpTransport, HttpTransportBuilder, TlsBackend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const CA: &[u8] = include_bytes!("tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("tls/server.key");

const ALL: [TlsBackend; 3] = [
    TlsBackend::RustlsRing,
    TlsBackend::RustlsAwsLcRs,
    TlsBackend::NativeTls,
];

/// The backends this build has.
fn backends() -> Vec<TlsBackend> {
    ALL.into_iter().filter(|b| b.is_available()).collect()
}

/// A TLS server on 127.0.0.1 answering every request `200 hello`; it records the ALPN
/// protocols each client offered.
struct Server {
    port: u16,
    offered_alpn: Arc<Mutex<Vec<Vec<Vec<u8>>>>>,
}

async fn server() -> Server {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_slice_iter(SERVER_CERT)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let offered_alpn = Arc::new(Mutex::new(Vec::new()));
    let offered = offered_alpn.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let config = config.clone();
            let offered = offered.clone();
            tokio::spawn(async move {
                let acceptor =
                    tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
                let Ok(start) = acceptor.await else { return };
                let alpn = start
                    .client_hello()
                    .alpn()
                    .map(|protocols| protocols.map(<[u8]>::to_vec).collect())
                    .unwrap_or_default();
                offered.lock().unwrap().push(alpn);
                // The client may refuse the certificate: then the handshake fails here.
                let Ok(mut tls) = start.into_stream(config).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let answer =
                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";
                let _ = tls.write_all(answer).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Server { port, offered_alpn }
}

fn request(port: u16) -> http::Request<Bytes> {
    http::Request::get(format!("https://127.0.0.1:{port}/v1/models"))
        .body(Bytes::new())
        .unwrap()
}

/// A transport on `backend` (system proxies off), with `setup` applied to its builder.
fn transport_on(
    backend: TlsBackend,
    setup: impl FnOnce(HttpTransportBuilder) -> HttpTransportBuilder,
) -> HttpTransport {
    setup(HttpTransport::builder().no_proxy().tls_backend(backend))
        .build()
        .unwrap()
}

async fn body_of(transport: &HttpTransport, port: u16) -> Bytes {
    let response = transport.send(request(port)).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect(1 << 10).await.unwrap()
}

#[test]
fn the_default_backend_follows_the_documented_precedence() {
    let expected = [
        TlsBackend::NativeTls,
        TlsBackend::RustlsAwsLcRs,
        TlsBackend::RustlsRing,
    ]
    .into_iter()
    .find(|b| b.is_available());
    assert_eq!(TlsBackend::default_for_build(), expected);
    assert_eq!(
        TlsBackend::RustlsRing.is_available(),
        cfg!(feature = "rustls-ring")
    );
    let transport = HttpTransport::builder().no_proxy().build().unwrap();
    assert_eq!(transport.tls_backend(), expected);
    for backend in backends() {
        let transport = HttpTransport::builder()
            .no_proxy()
            .tls_backend(backend)
            .build()
            .unwrap();
        assert_eq!(transport.tls_backend(), Some(backend));
    }
}

#[test]
fn a_backend_this_build_lacks_is_a_config_error_naming_its_feature() {
    for backend in ALL.into_iter().filter(|b| !b.is_available()) {
        let error = HttpTransport::builder()
            .tls_backend(backend)
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.message().contains(backend.feature()), "{error}");
    }
}

#[tokio::test]
async fn the_system_roots_alone_reject_the_test_ca() {
    let server = server().await;
    for backend in backends() {
        let transport = transport_on(backend, |builder| builder);
        let error = transport.send(request(server.port)).await.unwrap_err();
        assert_eq!(
            error.kind(),
            TransportErrorKind::Connect,
            "{backend:?}: {error}"
        );
        let text = error.to_string().to_lowercase();
        assert!(text.contains("certificate"), "{backend:?}: {text}");
    }
}

#[tokio::test]
async fn an_added_root_pem_is_trusted() {
    let server = server().await;
    for backend in backends() {
        let transport = transport_on(backend, |builder| builder.add_root_certificates_pem(CA));
        assert_eq!(
            body_of(&transport, server.port).await,
            "hello",
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn danger_accept_invalid_certs_accepts_an_unknown_ca() {
    let server = server().await;
    for backend in backends() {
        let transport = transport_on(backend, |builder| builder.danger_accept_invalid_certs(true));
        assert_eq!(
            body_of(&transport, server.port).await,
            "hello",
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn alpn_offers_h2_only_with_the_http2_feature() {
    let server = server().await;
    for backend in backends() {
        let transport = transport_on(backend, |builder| builder.add_root_certificates_pem(CA));
        body_of(&transport, server.port).await;
        let offered = server.offered_alpn.lock().unwrap().pop().unwrap();
        let expected: Vec<Vec<u8>> = if cfg!(feature = "http2") {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        assert_eq!(offered, expected, "{backend:?}");
    }
}

#[test]
fn a_pem_without_a_certificate_is_a_config_error() {
    for backend in backends() {
        for pem in [&b"not a certificate"[..], SERVER_KEY] {
            let error = HttpTransport::builder()
                .tls_backend(backend)
                .add_root_certificates_pem(pem)
                .build()
                .unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Config, "{backend:?}: {error}");
        }
    }
}

/// A build without TLS speaks plain HTTP; TLS settings and `https://` are `Config` errors.
#[cfg(not(any(
    feature = "rustls-ring",
    feature = "rustls-aws-lc-rs",
    feature = "native-tls"
)))]
#[tokio::test]
async fn without_tls_https_and_tls_settings_are_config_errors() {
    assert_eq!(TlsBackend::default_for_build(), None);
    let transport = HttpTransport::builder().no_proxy().build().unwrap();
    assert_eq!(transport.tls_backend(), None);
    let error = transport.send(request(9)).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Other);
    assert!(error.message().contains("rustls-ring"), "{error}");
    assert_eq!(error.into_error().kind(), ErrorKind::Config);
    for builder in [
        HttpTransport::builder().add_root_certificates_pem(CA),
        HttpTransport::builder().danger_accept_invalid_certs(true),
    ] {
        assert_eq!(builder.build().unwrap_err().kind(), ErrorKind::Config);
    }
}
