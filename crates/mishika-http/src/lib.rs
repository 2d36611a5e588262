//! [`HttpTransport`]: mishika's [`Transport`] over reqwest (rustls, pooled connections).
//!
//! It only moves bytes: the request body is already encoded (JSON or multipart) and the
//! response body is handed back as a stream, never buffered.
//!
//! ```no_run
//! use std::time::Duration;
//! let transport = mishika_http::HttpTransport::builder()
//!     .connect_timeout(Duration::from_secs(5))
//!     .pool_idle_timeout(Duration::from_secs(60))
//!     .user_agent("my-app/1.0")
//!     .build()?;
//! # Ok::<(), mishika_core::Error>(())
//! ```

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use mishika_core::{Body, Error, Transport, TransportError, TransportErrorKind, TransportFuture};

/// The default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("mishika/", env!("CARGO_PKG_VERSION"));

/// A pooled reqwest client as a mishika [`Transport`]. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    urls: Arc<UrlCache>,
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
    pub fn from_client(client: reqwest::Client) -> HttpTransport {
        HttpTransport {
            client,
            urls: Arc::default(),
        }
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
        }
    }
}

impl HttpTransportBuilder {
    /// Deadline for establishing a connection (TCP + TLS).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// reqwest's own deadline for a whole request *including reading the body*. Off by
    /// default, since it would also cut long streams; mishika's client applies request and
    /// stream-idle deadlines itself.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How long an idle pooled connection is kept.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = Some(timeout);
        self
    }

    /// Most idle connections kept per host.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = Some(max);
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Send every request through this HTTP(S) proxy, e.g. `http://proxy.internal:3128`.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Ignore the system proxy settings (`HTTP_PROXY` …).
    pub fn no_proxy(mut self) -> Self {
        self.no_proxy = true;
        self
    }

    /// Build the transport; fails with a `Config` error on an invalid proxy URL or TLS setup.
    pub fn build(self) -> Result<HttpTransport, Error> {
        let mut builder = reqwest::Client::builder().user_agent(self.user_agent);
        if let Some(timeout) = self.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = self.request_timeout {
            builder = builder.timeout(timeout);
        }
        builder = builder.pool_idle_timeout(self.pool_idle_timeout);
        if let Some(max) = self.pool_max_idle_per_host {
            builder = builder.pool_max_idle_per_host(max);
        }
        if self.no_proxy {
            builder = builder.no_proxy();
        }
        if let Some(url) = self.proxy {
            let proxy = reqwest::Proxy::all(&url)
                .map_err(|e| Error::config("invalid HTTP proxy URL").with_source(e))?;
            builder = builder.proxy(proxy);
        }
        let client = builder
            .build()
            .map_err(|e| Error::config("could not build the HTTP client").with_source(e))?;
        Ok(HttpTransport::from_client(client))
    }
}

fn transport_error(error: reqwest::Error) -> TransportError {
    let kind = if error.is_timeout() && error.is_connect() {
        TransportErrorKind::ConnectTimeout
    } else if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else if error.is_builder() || error.is_request() && !error.is_body() {
        TransportErrorKind::Other
    } else {
        TransportErrorKind::Io
    };
    let message = match kind {
        TransportErrorKind::ConnectTimeout => "connecting to the server timed out",
        TransportErrorKind::Timeout => "the HTTP request timed out",
        TransportErrorKind::Connect => "could not connect to the server",
        TransportErrorKind::Other => "the HTTP request could not be sent",
        _ => "the connection failed",
    };
    // reqwest's message carries the URL but never headers, so the key cannot leak here.
    TransportError::new(kind, format!("{message}: {error}")).with_source(error)
}

impl Transport for HttpTransport {
    // Written out rather than `async fn`: the request is turned into reqwest's before the
    // future is boxed, so the box holds reqwest's pending call, not the request.
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        let (parts, body) = request.into_parts();
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
            let response = pending.await.map_err(transport_error)?;
            let response: http::Response<reqwest::Body> = response.into();
            Ok(response.map(|body| {
                Body::from_stream(
                    http_body_util::BodyDataStream::new(body).map_err(transport_error),
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

    #[test]
    fn bad_proxy_url_is_a_config_error() {
        let error = HttpTransport::builder()
            .proxy("not a url")
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), mishika_core::ErrorKind::Config);
    }
}
