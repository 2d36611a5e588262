//! The [`Transport`] seam: how a finished `http::Request<Bytes>` becomes a response.
//!
//! Providers build requests and parse responses; a transport only moves bytes. Swap it for
//! a mock in unit tests, wrap it for retries or tracing, or write one over another HTTP stack.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;

use crate::error::{Error, ErrorKind, Result, TimeoutPhase};

/// Sends one HTTP request and returns the response head with a streaming body.
///
/// The request body is `Bytes` (JSON or already-encoded multipart), so a retry layer can
/// send it again unchanged. A non-2xx status is a *response*, not an error: only failures
/// to get a response at all (connect, I/O, timeout) are `Err`.
///
/// `send` returns a [`TransportFuture`]: do the synchronous work (converting the request)
/// first and box only what has to wait, or box an `async move` block:
///
/// ```
/// use bytes::Bytes;
/// use mishika_core::{Body, Transport, TransportFuture};
///
/// /// Answers every request with an empty 204.
/// #[derive(Debug)]
/// struct NoContent;
///
/// impl Transport for NoContent {
///     fn send(&self, _request: http::Request<Bytes>) -> TransportFuture<'_> {
///         let mut response = http::Response::new(Body::empty());
///         *response.status_mut() = http::StatusCode::NO_CONTENT;
///         Box::pin(async move { Ok(response) })
///     }
/// }
/// ```
pub trait Transport: Send + Sync + fmt::Debug {
    /// Send `request`; the body of the returned response streams as it arrives.
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_>;
}

/// The future [`Transport::send`] returns: the response head, or the failure to get one.
pub type TransportFuture<'a> = Pin<
    Box<
        dyn std::future::Future<Output = std::result::Result<http::Response<Body>, TransportError>>
            + Send
            + 'a,
    >,
>;

/// mockall's mock of a transport, answering synchronously what each expectation returns.
#[cfg(feature = "mock")]
mod mock {
    use super::{Body, Bytes, TransportError};

    /// The transport as mockall mocks it: the expectation returns the answer itself.
    #[mockall::automock]
    pub trait Transport {
        /// The answer to `request`.
        fn send(
            &self,
            request: http::Request<Bytes>,
        ) -> std::result::Result<http::Response<Body>, TransportError>;
    }
}

/// A [`Transport`] whose answers tests script with mockall:
/// `transport.expect_send().returning(|request| Ok(response))`.
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use mock::MockTransport;

#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
impl Transport for MockTransport {
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        let answer = mock::Transport::send(self, request);
        Box::pin(std::future::ready(answer))
    }
}

/// What kind of failure a [`TransportError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be established.
    Connect,
    /// Establishing the connection took too long.
    ConnectTimeout,
    /// A deadline for the whole request fired.
    Timeout,
    /// No bytes arrived on a response body for too long.
    IdleTimeout,
    /// A streamed body outlasted its whole-stream deadline.
    StreamDeadline,
    /// The connection broke while sending or receiving: closed or reset before the answer
    /// came (retryable), or while its body was read.
    Io,
    /// What the server sent back is not valid HTTP (a malformed status line or headers).
    Protocol,
    /// Anything else the transport could not do (e.g. an invalid request for its stack):
    /// sending it again would not help, so it becomes a `Config` error and is not retried.
    Other,
}

/// A transport failed to produce a response, or a body broke while streaming.
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// A new transport error.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> TransportError {
        TransportError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attach the underlying cause.
    #[must_use]
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> TransportError {
        self.source = Some(source.into());
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// This failure as a mishika [`Error`] of the request phase: connect and I/O failures
    /// are [`ErrorKind::Connection`], deadlines [`ErrorKind::Timeout`], an answer that is
    /// not HTTP [`ErrorKind::Decode`], a request the transport cannot send
    /// ([`TransportErrorKind::Other`]) [`ErrorKind::Config`]. So
    /// [`Error::is_retryable`] agrees with what the retry layer retries.
    pub fn into_error(self) -> Error {
        let phase = match self.kind {
            TransportErrorKind::ConnectTimeout => Some(TimeoutPhase::Connect),
            TransportErrorKind::Timeout => Some(TimeoutPhase::Request),
            TransportErrorKind::IdleTimeout => Some(TimeoutPhase::StreamIdle),
            TransportErrorKind::StreamDeadline => Some(TimeoutPhase::StreamDeadline),
            _ => None,
        };
        let error = match phase {
            Some(phase) => Error::new(ErrorKind::Timeout, self.message).with_timeout_phase(phase),
            None if self.kind == TransportErrorKind::Protocol => Error::decode(self.message),
            None if self.kind == TransportErrorKind::Other => Error::config(self.message),
            None => Error::new(ErrorKind::Connection, self.message),
        };
        match self.source {
            Some(source) => error.with_boxed_source(source),
            None => error,
        }
    }

    /// This failure while a body was streaming, as a mishika [`Error`] of kind
    /// [`ErrorKind::Stream`] (or [`ErrorKind::Timeout`] for a deadline).
    pub fn into_stream_error(self) -> Error {
        if matches!(
            self.kind,
            TransportErrorKind::Timeout
                | TransportErrorKind::IdleTimeout
                | TransportErrorKind::StreamDeadline
        ) {
            return self.into_error();
        }
        let error = Error::stream(format!("response body broke: {}", self.message));
        match self.source {
            Some(source) => error.with_boxed_source(source),
            None => error,
        }
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

type ByteStream =
    Pin<Box<dyn Stream<Item = std::result::Result<Bytes, TransportError>> + Send + 'static>>;

/// A response body: a stream of `Bytes` chunks, never buffered whole unless asked.
pub struct Body {
    inner: BodyInner,
}

enum BodyInner {
    Full(Option<Bytes>),
    Stream(ByteStream),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body {
            inner: BodyInner::Full(None),
        }
    }

    /// A body that is one chunk.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        Body {
            inner: BodyInner::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// A body that streams.
    pub fn from_stream(
        stream: impl Stream<Item = std::result::Result<Bytes, TransportError>> + Send + 'static,
    ) -> Body {
        Body {
            inner: BodyInner::Stream(Box::pin(stream)),
        }
    }

    /// Read the whole body, failing with [`ErrorKind::Decode`] past `limit` bytes
    /// (the rest is not read, so memory stays bounded).
    pub async fn collect(self, limit: usize) -> Result<Bytes> {
        let mut stream = match self.inner {
            BodyInner::Full(None) => return Ok(Bytes::new()),
            BodyInner::Full(Some(bytes)) => {
                return if bytes.len() > limit {
                    Err(too_large(limit))
                } else {
                    Ok(bytes)
                };
            }
            BodyInner::Stream(stream) => stream,
        };
        // Keep the chunks as they arrive and copy once into an exact-size buffer at the
        // end: no regrowth of a large buffer, and a one-chunk body is not copied at all
        // (nor is a list of chunks allocated for it).
        let mut first: Option<Bytes> = None;
        let mut rest: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            let chunk = chunk.map_err(TransportError::into_error)?;
            total += chunk.len();
            if total > limit {
                return Err(too_large(limit));
            }
            if chunk.is_empty() {
                continue;
            }
            match first {
                None => first = Some(chunk),
                Some(_) => rest.push(chunk),
            }
        }
        let Some(first) = first else {
            return Ok(Bytes::new());
        };
        if rest.is_empty() {
            return Ok(first);
        }
        let mut buffer = BytesMut::with_capacity(total);
        buffer.extend_from_slice(&first);
        for chunk in &rest {
            buffer.extend_from_slice(chunk);
        }
        Ok(buffer.freeze())
    }
}

impl Body {
    /// At most the first `limit` bytes, for reading an error answer: the rest is not read,
    /// and a body that breaks yields what arrived before.
    pub async fn prefix(mut self, limit: usize) -> Bytes {
        let mut buffer = Vec::new();
        while let Some(Ok(chunk)) = futures_util::StreamExt::next(&mut self).await {
            let room = limit.saturating_sub(buffer.len());
            buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if buffer.len() >= limit {
                break;
            }
        }
        Bytes::from(buffer)
    }
}

fn too_large(limit: usize) -> Error {
    Error::decode(format!("response body exceeds the limit of {limit} bytes"))
}

impl Stream for Body {
    type Item = std::result::Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.inner {
            BodyInner::Full(bytes) => Poll::Ready(bytes.take().map(Ok)),
            BodyInner::Stream(stream) => stream.as_mut().poll_next(cx),
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            BodyInner::Full(bytes) => f
                .debug_struct("Body")
                .field("len", &bytes.as_ref().map_or(0, Bytes::len))
                .finish(),
            BodyInner::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body::from_bytes(bytes)
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from_bytes(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from_bytes(Bytes::from(text))
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::from_bytes(Bytes::from(bytes))
    }
}
