//! [`HttpTransport`]: mishika's [`Transport`] over reqwest (pooled connections).
//!
//! TLS is chosen by features: `rustls-ring` (the default), `rustls-aws-lc-rs` or
//! `native-tls` (see [`TlsBackend`]); with none, the transport speaks plain `http://` only.
//! `http2` adds HTTP/2 (offered by ALPN over TLS).
//!
//! It is the HTTP layer of [mishika](https://docs.rs/mishika): `mishika::Client` builds one
//! by default, so most programs never name this crate. Build your own to set what the
//! client's builder does not: the connection pool, the `User-Agent`, an HTTP proxy; or wrap
//! a `reqwest::Client` you already have ([`HttpTransport::from_client`]). Then hand it to
//! `Client::builder().transport(..)`: the client still puts its retries, deadlines and
//! settings around it.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mishika::{ChatMessage, ChatRequest, Client};
//! use mishika_http::HttpTransport;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let gateway = mishika_mock::MockGateway::start().await?;
//! let transport = HttpTransport::builder()
//!     .connect_timeout(Duration::from_secs(5))
//!     .pool_idle_timeout(Duration::from_secs(60))
//!     .pool_max_idle_per_host(8)
//!     .user_agent("my-app/1.0")
//!     .build()?;
//! let client = Client::builder()
//!     .api_base(gateway.base_url()) // your proxy, e.g. "http://localhost:4000"
//!     .transport(Arc::new(transport))
//!     .build()?;
//!
//! let request = ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user("Hi")]);
//! let answer = client.chat(request).await?;
//! assert_eq!(answer.content(), Some("Hi"));
//! assert_eq!(gateway.last_request().unwrap().header("user-agent"), Some("my-app/1.0"));
//! # Ok(()) }
//! ```
//!
//! It only moves bytes: the request body is already encoded (JSON or multipart) and the
//! response body is handed back as a stream, never buffered. Timeouts here are the
//! connection's (connect, idle pool); the request and stream deadlines are the client's.
//!
//! **Redirects.** Only a `307` or `308` to the same origin (scheme, host and port) is
//! followed, which keeps the method, the body and the headers. Any other redirect comes
//! back as the `3xx` answer it is, so a `POST` is never silently turned into a body-less
//! `GET`, and no header (`Authorization`, `x-api-key`, `api-key` …) ever reaches another
//! origin.
//!
//! **Proxies.** The system settings (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`)
//! apply unless [`HttpTransportBuilder::no_proxy`]; [`HttpTransportBuilder::proxy`] sets
//! one explicitly. A connection error names the proxy a request went through, never its
//! credentials.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rustls-ring` | on | TLS by rustls with the `ring` provider (builds in seconds); certificates checked against the system's roots |
//! | `rustls-aws-lc-rs` | off | TLS by rustls with `aws-lc-rs` (what reqwest's `rustls` uses; its build compiles AWS-LC) |
//! | `native-tls` | off | TLS by the platform's library (OpenSSL on Linux: needs `libssl-dev` and `pkg-config`) |
//! | `http2` | off | HTTP/2, negotiated by ALPN over TLS |
//!
//! With several TLS features on, `native-tls` wins, then `rustls-aws-lc-rs`; with none, plain
//! `http://` works and an `https://` request is a `Config` error.
//
// The one list of this crate's features: extend this table when one is added.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use hyper_util::client::proxy::matcher::Matcher;
use mishika_core::{Body, Error, Transport, TransportError, TransportErrorKind, TransportFuture};

mod tls;
pub use tls::TlsBackend;
use tls::TlsSettings;

/// The default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("mishika/", env!("CARGO_PKG_VERSION"));

/// A pooled reqwest client as a mishika [`Transport`]. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    urls: Arc<UrlCache>,
    /// The proxies the client sends through, to name them when a request fails (`None`
    /// for a client configured elsewhere, whose proxies are unknown).
    proxies: Option<Arc<Proxies>>,
    /// The TLS backend set up by the builder (`None`: plain HTTP, or a client from elsewhere).
    tls: Option<TlsBackend>,
}

/// Which proxy, if any, a request goes through: the rules reqwest applies, kept to say so
/// in an error.
struct Proxies {
    matcher: Matcher,
    /// Where the proxies were set: the builder, or the environment.
    from_environment: bool,
}

impl fmt::Debug for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The matcher's Debug leaves proxy credentials out.
        f.debug_struct("Proxies")
            .field("matcher", &self.matcher)
            .field("from_environment", &self.from_environment)
            .finish()
    }
}

impl Proxies {
    /// ` through the proxy http://host:port (set by HTTPS_PROXY)` when a request to `url`
    /// goes through one, else nothing.
    fn note(&self, url: &reqwest::Url) -> String {
        let Ok(uri) = http::Uri::try_from(url.as_str()) else {
            return String::new();
        };
        let Some(intercept) = self.matcher.intercept(&uri) else {
            return String::new();
        };
        let proxy = intercept.uri();
        // Credentials in the proxy URL are never shown.
        let host = proxy
            .authority()
            .map(|authority| authority.as_str().rsplit('@').next().unwrap_or_default())
            .unwrap_or_default();
        let scheme = proxy.scheme_str().unwrap_or("http");
        let origin = if self.from_environment {
            let variables: &[&str] = if url.scheme() == "https" {
                &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            } else {
                &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
            };
            let variable = variables
                .iter()
                .find(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
            match variable {
                Some(name) => format!("set by {name}"),
                None => "set in the environment".to_owned(),
            }
        } else {
            "set with HttpTransportBuilder::proxy".to_owned()
        };
        format!(" through the proxy {scheme}://{host} ({origin})")
    }
}

/// reqwest wants a `url::Url`, and parsing one costs ~20 k instructions (IDNA host handling),
/// more than the rest of the client's work on a call. A client talks to a handful of
/// endpoints, so the parsed URLs are kept, keyed by the request's `Uri`.
#[derive(Debug, Default)]
struct UrlCache {
    entries: RwLock<Vec<(http::Uri, reqwest::Url)>>,
}

/// Endpoints a transport remembers; URLs past this are parsed each time.
const MAX_CACHED_URLS: usize = 64;

impl UrlCache {
    fn url(&self, uri: &http::Uri) -> Result<reqwest::Url, TransportError> {
        if let Ok(entries) = self.entries.read() {
            if let Some((_, url)) = entries.iter().find(|(known, _)| known == uri) {
                return Ok(url.clone());
            }
        }
        let url = reqwest::Url::parse(&uri.to_string()).map_err(|e| {
            TransportError::new(TransportErrorKind::Other, format!("invalid URL `{uri}`"))
                .with_source(e)
        })?;
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() < MAX_CACHED_URLS && !entries.iter().any(|(known, _)| known == uri) {
                entries.push((uri.clone(), url.clone()));
            }
        }
        Ok(url)
    }
}

impl HttpTransport {
    /// A transport with the defaults: 10 s connect timeout, 90 s idle pool timeout,
    /// no overall timeout (mishika's client applies its own), system proxy settings.
    pub fn new() -> Result<HttpTransport, Error> {
        HttpTransport::builder().build()
    }

    /// Configure a transport.
    pub fn builder() -> HttpTransportBuilder {
        HttpTransportBuilder::default()
    }

    /// Wrap a reqwest client you configured yourself.
    ///
    /// mishika knows nothing of its proxies then, so its errors cannot name them; and its
    /// redirect policy is yours (reqwest's default follows up to 10 redirects of any kind,
    /// turning a `POST` into a `GET` on `301`, `302` and `303`).
    pub fn from_client(client: reqwest::Client) -> HttpTransport {
        HttpTransport {
            client,
            urls: Arc::default(),
            proxies: None,
            tls: None,
        }
    }

    /// The TLS backend the builder set up: `None` for a build without TLS (plain `http://`
    /// only) or a transport made [`from_client`](HttpTransport::from_client).
    pub fn tls_backend(&self) -> Option<TlsBackend> {
        self.tls
    }
}

/// Settings for an [`HttpTransport`].
#[derive(Debug, Clone)]
pub struct HttpTransportBuilder {
    connect_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
    pool_max_idle_per_host: Option<usize>,
    user_agent: String,
    proxy: Option<String>,
    no_proxy: bool,
    tls: TlsSettings,
}

impl Default for HttpTransportBuilder {
    fn default() -> HttpTransportBuilder {
        HttpTransportBuilder {
            connect_timeout: Some(Duration::from_secs(10)),
            request_timeout: None,
            pool_idle_timeout: Some(Duration::from_secs(90)),
            pool_max_idle_per_host: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            proxy: None,
            no_proxy: false,
            tls: TlsSettings::default(),
        }
    }
}

impl HttpTransportBuilder {
    /// Deadline for establishing a connection (TCP + TLS). Any duration of 30 years or more
    /// (`Duration::MAX`) means none, here and in the other timeouts.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// reqwest's own deadline for a whole request *including reading the body*. Off by
    /// default, since it would also cut long streams; mishika's client applies request and
    /// stream-idle deadlines itself.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How long an idle pooled connection is kept.
    #[must_use]
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = Some(timeout);
        self
    }

    /// Most idle connections kept per host.
    #[must_use]
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = Some(max);
        self
    }

    /// The `User-Agent` header.
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Send every request through this HTTP(S) proxy, e.g. `http://proxy.internal:3128`.
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Ignore the system proxy settings (`HTTP_PROXY` …).
    #[must_use]
    pub fn no_proxy(mut self) -> Self {
        self.no_proxy = true;
        self
    }

    /// Use this TLS backend rather than [`TlsBackend::default_for_build`]. One this build
    /// does not have makes [`build`](HttpTransportBuilder::build) a `Config` error.
    #[must_use]
    pub fn tls_backend(mut self, backend: TlsBackend) -> Self {
        self.tls.backend = Some(backend);
        self
    }

    /// Trust the certificates in `pem` (one, or a bundle) as roots, beside the system's:
    /// a company CA, or the CA that signed a local gateway's certificate. A PEM with no
    /// certificate, or an invalid one, makes [`build`](HttpTransportBuilder::build) a
    /// `Config` error.
    ///
    /// ```no_run
    /// let pem = std::fs::read("gateway-ca.pem")?;
    /// let transport = mishika_http::HttpTransport::builder()
    ///     .add_root_certificates_pem(pem)
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn add_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_certificates.push(pem.into());
        self
    }

    /// **Dangerous**: accept any server certificate — self-signed, expired, or for another
    /// name. Anyone between you and the server can then read and change the traffic,
    /// API keys included. Only for a gateway on your own machine or network whose
    /// certificate you cannot add with
    /// [`add_root_certificates_pem`](HttpTransportBuilder::add_root_certificates_pem).
    #[must_use]
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.tls.accept_invalid_certs = accept;
        self
    }

    /// Build the transport; fails with a `Config` error on an invalid proxy URL or TLS setup
    /// (a TLS backend or TLS setting this build has no feature for, an invalid PEM).
    pub fn build(self) -> Result<HttpTransport, Error> {
        let builder = reqwest::Client::builder()
            .user_agent(self.user_agent)
            .redirect(reqwest::redirect::Policy::custom(same_origin_307_308));
        let (mut builder, tls) = tls::configure(builder, self.tls)?;
        if let Some(timeout) = self.connect_timeout.and_then(limit) {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = self.request_timeout.and_then(limit) {
            builder = builder.timeout(timeout);
        }
        // hyper-util adds the idle timeout to an instant: `Duration::MAX` would panic there.
        builder = builder.pool_idle_timeout(self.pool_idle_timeout.and_then(limit));
        if let Some(max) = self.pool_max_idle_per_host {
            builder = builder.pool_max_idle_per_host(max);
        }
        // The rules reqwest applies (an explicit proxy replaces the environment's), kept
        // to name the proxy in errors.
        let mut proxies = None;
        if self.no_proxy {
            builder = builder.no_proxy();
        } else if self.proxy.is_none() {
            proxies = Some(Proxies {
                matcher: Matcher::from_env(),
                from_environment: true,
            });
        }
        if let Some(url) = self.proxy {
            let proxy = reqwest::Proxy::all(&url)
                .map_err(|e| Error::config("invalid HTTP proxy URL").with_source(e))?;
            builder = builder.proxy(proxy);
            proxies = Some(Proxies {
                matcher: Matcher::builder().all(url).build(),
                from_environment: false,
            });
        }
        let client = builder
            .build()
            .map_err(|e| Error::config("could not build the HTTP client").with_source(e))?;
        let mut transport = HttpTransport::from_client(client);
        transport.proxies = proxies.map(Arc::new);
        transport.tls = tls;
        Ok(transport)
    }
}

/// Durations at least this long (`Duration::MAX` …) mean "no limit": adding them to an
/// instant would overflow.
const FOREVER: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `duration` as a limit, or `None` for one so long it means no limit.
fn limit(duration: Duration) -> Option<Duration> {
    (duration < FOREVER).then_some(duration)
}

/// Redirects followed: a `307` or `308` (which keep the method and body) to the same
/// scheme, host and port, at most 10 in a row. Every other redirect stops, and its `3xx`
/// answer is returned as it is.
fn same_origin_307_308(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let keeps_method = matches!(attempt.status().as_u16(), 307 | 308);
    let same_origin = attempt.previous().last().is_some_and(|previous| {
        let next = attempt.url();
        previous.scheme() == next.scheme()
            && previous.host_str() == next.host_str()
            && previous.port_or_known_default() == next.port_or_known_default()
    });
    if keeps_method && same_origin && attempt.previous().len() <= 10 {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

/// The failure at the bottom of `error`'s chain: `Connection refused (os error 111)`,
/// `connection closed before message completed`, a DNS or TLS failure.
fn root_cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    let mut root = error;
    while let Some(source) = root.source() {
        root = source;
    }
    root
}

/// hyper's error in `error`'s chain, if there is one.
fn hyper_error(error: &reqwest::Error) -> Option<&hyper::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<hyper::Error>() {
            return Some(found);
        }
        next = current.source();
    }
    None
}

/// The cause of a transport error, shown once: it prints the root of reqwest's chain
/// (reqwest and hyper-util each repeat the URL or say "client error"), and its
/// [`source`](std::error::Error::source) is reqwest's error itself, for code that wants it.
struct Cause {
    root: String,
    error: reqwest::Error,
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.error, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Whether a request failed before its answer's head: `Io` (the connection closed or was
/// reset, retryable), `Protocol` (what came back is not HTTP), `Other` (never sent).
fn exchange_failure(error: &reqwest::Error) -> TransportErrorKind {
    match hyper_error(error) {
        Some(hyper) if hyper.is_parse() => TransportErrorKind::Protocol,
        Some(hyper) if hyper.is_user() => TransportErrorKind::Other,
        // Closed, reset, cancelled because the connection went away, or an I/O error on it.
        _ => TransportErrorKind::Io,
    }
}

/// A reqwest failure as a [`TransportError`] whose message says what happened (with the
/// server's host and the proxy in between, if any) and whose source shows the root cause
/// once. reqwest's messages carry the URL but never headers, so no key can leak here.
fn transport_error(error: reqwest::Error, proxies: Option<&Proxies>) -> TransportError {
    let kind = if error.is_timeout() && error.is_connect() {
        TransportErrorKind::ConnectTimeout
    } else if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else if error.is_builder() || error.is_redirect() {
        TransportErrorKind::Other
    } else if error.is_request() {
        exchange_failure(&error)
    } else {
        // The body broke (`is_body`, `is_decode`), or anything else once the answer came.
        TransportErrorKind::Io
    };
    let host = error
        .url()
        .and_then(|url| {
            let host = url.host_str()?;
            Some(match url.port_or_known_default() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
        })
        .unwrap_or_else(|| "the server".to_owned());
    let proxy = match (proxies, error.url()) {
        (Some(proxies), Some(url)) => proxies.note(url),
        _ => String::new(),
    };
    let message = if error.is_body() || error.is_decode() {
        format!("the connection to {host}{proxy} broke while the answer was read")
    } else {
        match kind {
            TransportErrorKind::ConnectTimeout => format!("connecting to {host}{proxy} timed out"),
            TransportErrorKind::Timeout => format!("the request to {host}{proxy} timed out"),
            TransportErrorKind::Connect => format!("could not connect to {host}{proxy}"),
            TransportErrorKind::Io => {
                format!("the connection to {host}{proxy} closed before an answer arrived")
            }
            TransportErrorKind::Protocol => {
                format!("the answer from {host}{proxy} is not valid HTTP")
            }
            _ if error.is_redirect() => format!("a redirect from {host} could not be followed"),
            _ => format!("the request to {host} could not be sent"),
        }
    };
    let root = root_cause(&error).to_string();
    TransportError::new(kind, message).with_source(Cause { root, error })
}

impl Transport for HttpTransport {
    // Written out rather than `async fn`: the request is turned into reqwest's before the
    // future is boxed, so the box holds reqwest's pending call, not the request.
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        let (parts, body) = request.into_parts();
        #[cfg(not(any(feature = "_rustls", feature = "native-tls")))]
        if parts.uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            let error = TransportError::new(
                TransportErrorKind::Other,
                format!("cannot send to `{}`: {}", parts.uri, tls::NO_TLS),
            );
            return Box::pin(std::future::ready(Err(error)));
        }
        let url = match self.urls.url(&parts.uri) {
            Ok(url) => url,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        let mut request = reqwest::Request::new(parts.method, url);
        *request.headers_mut() = parts.headers;
        *request.version_mut() = parts.version;
        *request.body_mut() = Some(reqwest::Body::from(body));
        let pending = self.client.execute(request);
        Box::pin(async move {
            let response = pending
                .await
                .map_err(|e| transport_error(e, self.proxies.as_deref()))?;
            let response: http::Response<reqwest::Body> = response.into();
            Ok(response.map(|body| {
                Body::from_stream(
                    http_body_util::BodyDataStream::new(body).map_err(|e| transport_error(e, None)),
                )
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn sends_bytes_and_streams_the_answer() {
        let gateway = mishika_mock::MockGateway::start().await.unwrap();
        let transport = HttpTransport::new().unwrap();
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("{}/v1/chat/completions", gateway.base_url()))
            .header("content-type", "application/json")
            .header("x-test", "1")
            .body(Bytes::from_static(
                br#"{"model":"m","messages":[{"role":"user","content":"hi there"}]}"#,
            ))
            .unwrap();
        let response = transport.send(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect(1 << 20).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["choices"][0]["message"]["content"], "hi there");
        let seen = gateway.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].header("x-test"), Some("1"));
        assert_eq!(seen[0].header("user-agent"), Some(DEFAULT_USER_AGENT));
        assert_eq!(
            &seen[0].body[..],
            br#"{"model":"m","messages":[{"role":"user","content":"hi there"}]}"#
        );
    }

    #[tokio::test]
    async fn refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let transport = HttpTransport::new().unwrap();
        let request = http::Request::get(format!("http://127.0.0.1:{port}/v1/models"))
            .body(Bytes::new())
            .unwrap();
        let error = transport.send(request).await.unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::Connect);
        let mut body = Body::from_stream(futures_util::stream::empty());
        assert!(body.next().await.is_none());
    }

    /// A server on loopback that reads one request and answers it with `answer`
    /// (nothing: it closes unanswered).
    fn answering_once(answer: &'static [u8]) -> std::net::SocketAddr {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buffer).unwrap();
                if n == 0 {
                    return;
                }
                request.extend_from_slice(&buffer[..n]);
            }
            let _ = stream.write_all(answer);
        });
        addr
    }

    async fn failure_of(addr: std::net::SocketAddr) -> TransportError {
        let transport = HttpTransport::builder().no_proxy().build().unwrap();
        let request = http::Request::get(format!("http://{addr}/v1/models"))
            .body(Bytes::new())
            .unwrap();
        transport.send(request).await.unwrap_err()
    }

    #[tokio::test]
    async fn each_failure_says_what_happened_with_its_root_cause_once() {
        // Closed unanswered: retryable I/O, not "could not be sent".
        let addr = answering_once(b"");
        let error = failure_of(addr).await;
        assert_eq!(error.kind(), TransportErrorKind::Io);
        assert_eq!(
            error.to_string(),
            format!(
                "Io: the connection to {addr} closed before an answer arrived: connection \
                 closed before message completed"
            )
        );
        // Not HTTP: a protocol failure, a decode error for the caller.
        let addr = answering_once(b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
        let error = failure_of(addr).await;
        assert_eq!(error.kind(), TransportErrorKind::Protocol);
        assert_eq!(
            error.message(),
            format!("the answer from {addr} is not valid HTTP")
        );
        let error = error.into_error();
        assert_eq!(error.kind(), mishika_core::ErrorKind::Decode);
        assert!(!error.is_retryable());
        // Refused: the OS's word, once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let error = failure_of(addr).await;
        assert_eq!(error.kind(), TransportErrorKind::Connect);
        assert_eq!(error.message(), format!("could not connect to {addr}"));
        let text = error.to_string();
        assert_eq!(text.matches("refused").count(), 1, "{text}");
        let error = error.into_error();
        assert_eq!(error.kind(), mishika_core::ErrorKind::Connection);
        let cause = std::error::Error::source(&error).unwrap();
        assert!(
            std::error::Error::source(cause)
                .unwrap()
                .downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_connect),
            "reqwest's error stays under the cause shown"
        );
    }

    #[tokio::test]
    async fn a_redirect_answer_is_handed_back_not_followed() {
        let addr = answering_once(
            b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\n\r\n",
        );
        let transport = HttpTransport::builder().no_proxy().build().unwrap();
        let request = http::Request::post(format!("http://{addr}/v1/chat/completions"))
            .body(Bytes::from_static(b"{}"))
            .unwrap();
        let response = transport.send(request).await.unwrap();
        assert_eq!(response.status(), 302);
        assert_eq!(
            response.headers()["location"],
            "http://127.0.0.1:9/elsewhere"
        );
    }

    #[test]
    fn the_proxy_a_request_goes_through_is_named_without_credentials() {
        let proxies = Proxies {
            matcher: Matcher::builder()
                .https("http://user:secret@10.1.2.3:3128")
                .no("internal.example")
                .build(),
            from_environment: true,
        };
        let note = |url: &str| proxies.note(&reqwest::Url::parse(url).unwrap());
        let through = note("https://api.openai.com/v1/models");
        assert!(
            through.starts_with(" through the proxy http://10.1.2.3:3128 (set "),
            "{through}"
        );
        assert!(!through.contains("secret"));
        assert_eq!(note("http://api.openai.com/v1/models"), "");
        assert_eq!(note("https://internal.example/v1/models"), "");
        let explicit = Proxies {
            matcher: Matcher::builder().all("http://10.1.2.3:3128").build(),
            from_environment: false,
        };
        assert_eq!(
            explicit.note(&reqwest::Url::parse("http://h:4000/v1").unwrap()),
            " through the proxy http://10.1.2.3:3128 (set with HttpTransportBuilder::proxy)"
        );
    }

    #[test]
    fn durations_of_thirty_years_or_more_are_no_limit() {
        assert_eq!(limit(Duration::from_secs(5)), Some(Duration::from_secs(5)));
        assert_eq!(
            limit(FOREVER - Duration::from_nanos(1)),
            Some(FOREVER - Duration::from_nanos(1))
        );
        assert_eq!(limit(FOREVER), None);
        assert_eq!(limit(Duration::MAX), None);
        assert!(
            HttpTransport::builder()
                .connect_timeout(Duration::MAX)
                .request_timeout(Duration::MAX)
                .pool_idle_timeout(Duration::MAX)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn bad_proxy_url_is_a_config_error() {
        let error = HttpTransport::builder()
            .proxy("not a url")
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), mishika_core::ErrorKind::Config);
    }
}
