//! Streamed answers: [`SseStream`] decodes OpenAI-style server-sent events into typed
//! frames on the fast path; [`ResponseStream`] (behind [`ChatStream`] and
//! [`CompletionStream`]) is either that or a provider's own stream of frames;
//! [`SseEventStream`] and [`LineStream`] read named SSE events and NDJSON lines for
//! providers that frame their streams otherwise.
//!
//! The OpenAI-style rules: `[DONE]` ends the stream; comments and keep-alives are skipped; an in-band
//! `{"error": …}` frame with a non-null `error` (or an `event: error`) becomes an `Err`
//! item; a frame that is not the expected JSON is a `Decode` item naming the bytes; a body
//! that ends or breaks before `[DONE]` is a `Stream` item. A body that is plain JSON
//! instead of events (an error envelope answered with a `200`, or a gateway that ignored
//! `stream`) is its error, or a `Decode` item saying so with the start of the JSON. After
//! any `Err` item the stream ends. Error items have the call's secrets scrubbed (see
//! [`SseStream::with_secrets`]).

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use serde::de::DeserializeOwned;

use crate::error::{Error, MAX_ERROR_BODY, Result, truncated_text};
use crate::metadata::ResponseMetadata;
use crate::secret::Secrets;
use crate::sse::{SseDecoder, SseEvent};
use crate::transport::Body;

/// A frame type an [`SseStream`] can yield.
pub trait StreamFrame: DeserializeOwned + Send + 'static {
    /// State kept across the frames of one stream (e.g. shared repeated strings).
    type Decoder: Default + Send + Unpin + 'static;

    /// Decode one frame's JSON.
    fn decode(decoder: &mut Self::Decoder, json: &[u8]) -> serde_json::Result<Self>;

    /// True when this decoded frame is really an in-band error: `{"error": …}` with an
    /// `error` that is not `null`.
    fn is_error_frame(&self) -> bool;
}

impl StreamFrame for crate::chat::ChatChunk {
    type Decoder = crate::decode::ChunkStrings;

    fn decode(decoder: &mut Self::Decoder, json: &[u8]) -> serde_json::Result<Self> {
        decoder.decode(json)
    }

    fn is_error_frame(&self) -> bool {
        self.extra
            .get("error")
            .is_some_and(|error| !error.is_null())
    }
}

impl StreamFrame for crate::completions::CompletionChunk {
    type Decoder = ();

    fn decode(_: &mut (), json: &[u8]) -> serde_json::Result<Self> {
        crate::decode::from_json(json)
    }

    fn is_error_frame(&self) -> bool {
        self.extra
            .get("error")
            .is_some_and(|error| !error.is_null())
    }
}

/// A typed stream of frames from a server-sent-events body.
pub struct SseStream<T: StreamFrame> {
    body: Body,
    decoder: SseDecoder,
    frames: <T as StreamFrame>::Decoder,
    metadata: ResponseMetadata,
    finished: bool,
    eof: bool,
    /// Whether the first byte of the body that is not whitespace (or a byte order mark)
    /// has arrived yet.
    sniffed: bool,
    /// The start of a body that began with `{` and has not yielded an event: plain JSON,
    /// read when the body ends (at most [`JSON_HEAD`] bytes). Boxed: the usual stream
    /// never has one.
    json_head: Option<Box<bytes::BytesMut>>,
    /// The SSE decoder gave up on a body that began with `{`: the rest of the JSON (up to
    /// [`JSON_HEAD`]) is being read to report it, whatever the chunks.
    reading_json: bool,
    secrets: Secrets,
    _frame: PhantomData<fn() -> T>,
}

/// How much of a JSON body answered instead of a stream is kept to read its error.
const JSON_HEAD: usize = MAX_ERROR_BODY * 8;

impl<T: StreamFrame> std::fmt::Debug for SseStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseStream")
            .field("status", &self.metadata.status)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<T: StreamFrame> SseStream<T> {
    /// Decode `body`, capping each SSE line at `max_line` bytes.
    pub fn new(body: Body, metadata: ResponseMetadata, max_line: usize) -> SseStream<T> {
        SseStream {
            body,
            decoder: SseDecoder::with_max_line(max_line),
            frames: Default::default(),
            metadata,
            finished: false,
            eof: false,
            sniffed: false,
            json_head: None,
            reading_json: false,
            secrets: Secrets::default(),
            _frame: PhantomData,
        }
    }

    /// Cap each event's joined `data:` lines at `max_event` bytes (default
    /// [`DEFAULT_MAX_EVENT`](crate::sse::DEFAULT_MAX_EVENT)).
    #[must_use]
    pub fn max_event(mut self, max_event: usize) -> SseStream<T> {
        self.decoder.set_max_event(max_event);
        self
    }

    /// Scrub these secrets (the call's key and credential headers) from every error item,
    /// so a server that echoes them in an in-band error does not put them in its message
    /// or body. [`Call::send_sse`](crate::Call::send_sse) sets the call's.
    #[must_use]
    pub fn with_secrets(mut self, secrets: Secrets) -> SseStream<T> {
        self.secrets = secrets;
        self
    }

    /// The status and headers of the answer (`x-litellm-call-id` …).
    pub fn metadata(&self) -> &ResponseMetadata {
        &self.metadata
    }

    /// Turn one event into an item: `None` to skip it, or end the stream on `[DONE]`.
    fn handle(&mut self, event: SseEvent) -> Option<Result<T>> {
        let data = trim_ascii(&event.data);
        if data.is_empty() {
            return None;
        }
        if data == b"[DONE]" {
            self.finished = true;
            return None;
        }
        if event.event.as_deref() == Some("error") {
            return Some(Err(Error::from_stream_frame(data)));
        }
        match T::decode(&mut self.frames, data) {
            Ok(frame) if frame.is_error_frame() => Some(Err(Error::from_stream_frame(data))),
            Ok(frame) => Some(Ok(frame)),
            Err(e) => Some(Err(Error::decode(format!(
                "stream frame is not valid JSON: {e}; frame: {}",
                truncated_text(data, 256)
            ))
            .with_source(e))),
        }
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<T>>> {
        self.finished = true;
        self.json_head = None;
        Poll::Ready(Some(Err(error.scrub_secrets(&self.secrets))))
    }

    /// Look at a chunk of a body not yet known to be events or JSON: a body whose first
    /// byte (past whitespace and a byte order mark) is `{` is kept, up to [`JSON_HEAD`], in
    /// case no event ever comes.
    fn sniff(&mut self, chunk: &[u8]) {
        if let Some(head) = &mut self.json_head {
            let room = JSON_HEAD.saturating_sub(head.len());
            head.extend_from_slice(&chunk[..room.min(chunk.len())]);
            return;
        }
        let first = chunk
            .iter()
            .position(|byte| !(byte.is_ascii_whitespace() || matches!(byte, 0xEF | 0xBB | 0xBF)));
        if let Some(first) = first {
            self.sniffed = true;
            if chunk[first] == b'{' {
                let end = chunk.len().min(first + JSON_HEAD);
                self.json_head = Some(Box::new(bytes::BytesMut::from(&chunk[first..end])));
            }
        }
    }

    /// The error of a body that was plain JSON: the error it carries, or a `Decode` error
    /// saying the server answered JSON instead of a stream.
    fn json_answer(&self, head: &[u8]) -> Error {
        let status = self.metadata.status;
        Error::from_error_envelope(status, self.metadata.headers(), head).unwrap_or_else(|| {
            Error::decode(format!(
                "the server answered JSON instead of an event stream (did the gateway ignore \
                 `\"stream\": true`?): {}",
                truncated_text(head, 256)
            ))
        })
    }

    /// After `[DONE]`: take the body's end if it is already here, so the connection can be
    /// reused, without waiting for a server that keeps it open.
    fn drain_ready(&mut self, cx: &mut Context<'_>) {
        for _ in 0..4 {
            match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Ready(Some(Ok(_))) => continue,
                Poll::Ready(None) => {
                    self.eof = true;
                    break;
                }
                _ => break,
            }
        }
    }
}

fn trim_ascii(bytes: &Bytes) -> &[u8] {
    bytes.trim_ascii()
}

impl<T: StreamFrame> Stream for SseStream<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = &mut *self;
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            if this.reading_json {
                let full = this
                    .json_head
                    .as_ref()
                    .is_none_or(|head| head.len() >= JSON_HEAD);
                if this.eof || full {
                    let head = this.json_head.take().unwrap_or_default();
                    let error = this.json_answer(&head);
                    return this.fail(error);
                }
                match Pin::new(&mut this.body).poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(chunk))) => this.sniff(&chunk),
                    // A body broken inside its JSON: report what did arrive.
                    Poll::Ready(Some(Err(_)) | None) => this.eof = true,
                }
                continue;
            }
            let decoded = if this.eof {
                // End of body: flush a last event that had no blank line after it.
                this.decoder.finish()
            } else {
                this.decoder.next_event()
            };
            match decoded {
                // A line too long for SSE in a body that began with `{`: plain JSON, most
                // likely; read the rest of it (bounded) and report that.
                Err(_) if this.json_head.is_some() => {
                    this.reading_json = true;
                    continue;
                }
                Err(error) => return this.fail(error),
                Ok(Some(event)) => {
                    this.json_head = None; // an event: the body is a stream after all
                    match this.handle(event) {
                        Some(Err(error)) => return this.fail(error),
                        Some(Ok(frame)) => return Poll::Ready(Some(Ok(frame))),
                        None if this.finished => {
                            if !this.eof {
                                this.drain_ready(cx);
                            }
                            return Poll::Ready(None);
                        }
                        None => continue,
                    }
                }
                Ok(None) if this.eof => {
                    let error = match this.json_head.take() {
                        Some(head) => this.json_answer(&head),
                        None => Error::stream(
                            "the stream ended before [DONE]: the answer may be incomplete",
                        ),
                    };
                    return this.fail(error);
                }
                Ok(None) => {}
            }
            match Pin::new(&mut this.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if !this.sniffed || this.json_head.is_some() {
                        this.sniff(&chunk);
                    }
                    this.decoder.push_bytes(chunk);
                }
                Poll::Ready(Some(Err(error))) => return this.fail(error.into_stream_error()),
                Poll::Ready(None) => this.eof = true,
            }
        }
    }
}

/// A streamed chat answer: typed chunks, then the end (or an `Err` item, after which
/// the stream ends). Dropping it closes the connection.
pub type ChatStream = ResponseStream<crate::chat::ChatChunk>;

/// A streamed text completion.
pub type CompletionStream = ResponseStream<crate::completions::CompletionChunk>;

/// The boxed stream of frames a provider builds from its own framing.
type ProviderFrames<T> = Pin<Box<dyn Stream<Item = Result<T>> + Send + 'static>>;

/// A streamed answer of typed frames, whatever the wire framed them in: OpenAI-style
/// server-sent events decoded on the fast path ([`SseStream`]), or any stream a provider
/// builds from its own framing (named SSE events, NDJSON …) with
/// [`from_stream`](ResponseStream::from_stream). Either way the caller sees the same
/// items, and the stream ends after its first `Err` item. Dropping it closes the
/// connection.
pub struct ResponseStream<T: StreamFrame> {
    inner: Frames<T>,
}

// The SSE variant is the common case and large on purpose: boxing it would cost every
// stream an allocation more.
#[allow(clippy::large_enum_variant)]
enum Frames<T: StreamFrame> {
    Sse(SseStream<T>),
    Provider {
        frames: ProviderFrames<T>,
        metadata: ResponseMetadata,
        finished: bool,
        secrets: Secrets,
    },
}

impl<T: StreamFrame> std::fmt::Debug for ResponseStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Frames::Sse(sse) => sse.fmt(f),
            Frames::Provider {
                metadata, finished, ..
            } => f
                .debug_struct("ResponseStream")
                .field("status", &metadata.status)
                .field("finished", finished)
                .finish_non_exhaustive(),
        }
    }
}

impl<T: StreamFrame> ResponseStream<T> {
    /// A stream of frames a provider decoded from its own framing, with the metadata of
    /// the answer they came in.
    pub fn from_stream(
        metadata: ResponseMetadata,
        frames: impl Stream<Item = Result<T>> + Send + 'static,
    ) -> ResponseStream<T> {
        ResponseStream {
            inner: Frames::Provider {
                frames: Box::pin(frames),
                metadata,
                finished: false,
                secrets: Secrets::default(),
            },
        }
    }

    /// Scrub these secrets (a call's key and credential headers, see
    /// [`Call::secrets`](crate::Call::secrets)) from every error item, whichever framing the
    /// stream came in. The client sets the call's on every stream it returns.
    #[must_use]
    pub fn with_secrets(self, secrets: Secrets) -> ResponseStream<T> {
        let inner = match self.inner {
            Frames::Sse(sse) => Frames::Sse(sse.with_secrets(secrets)),
            Frames::Provider {
                frames,
                metadata,
                finished,
                ..
            } => Frames::Provider {
                frames,
                metadata,
                finished,
                secrets,
            },
        };
        ResponseStream { inner }
    }

    /// The status and headers of the answer (`x-litellm-call-id` …).
    pub fn metadata(&self) -> &ResponseMetadata {
        match &self.inner {
            Frames::Sse(sse) => sse.metadata(),
            Frames::Provider { metadata, .. } => metadata,
        }
    }

    /// The status and headers of the answer, to amend (a router records its route here).
    pub fn metadata_mut(&mut self) -> &mut ResponseMetadata {
        match &mut self.inner {
            Frames::Sse(sse) => &mut sse.metadata,
            Frames::Provider { metadata, .. } => metadata,
        }
    }
}

impl<T: StreamFrame> From<SseStream<T>> for ResponseStream<T> {
    fn from(sse: SseStream<T>) -> ResponseStream<T> {
        ResponseStream {
            inner: Frames::Sse(sse),
        }
    }
}

impl<T: StreamFrame> Stream for ResponseStream<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        match &mut self.inner {
            Frames::Sse(sse) => Pin::new(sse).poll_next(cx),
            Frames::Provider {
                frames,
                finished,
                secrets,
                ..
            } => {
                if *finished {
                    return Poll::Ready(None);
                }
                match frames.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Err(error))) => {
                        *finished = true;
                        Poll::Ready(Some(Err(error.scrub_secrets(secrets))))
                    }
                    Poll::Ready(None) => {
                        *finished = true;
                        Poll::Ready(None)
                    }
                    item => item,
                }
            }
        }
    }
}

/// How frames are cut out of a body's bytes, for [`Framed`].
trait Framing: Unpin {
    /// What one frame is.
    type Frame;
    /// Take a chunk of the body.
    fn push(&mut self, chunk: Bytes);
    /// The next complete frame, `None` when more bytes are needed (or, at the end of the
    /// body, when none is left).
    fn next_frame(&mut self, at_eof: bool) -> Result<Option<Self::Frame>>;
}

/// A body cut into frames as it arrives: a framing error, or a body that breaks, is an
/// `Err` item that ends the stream; the end of the body ends it after the last frame.
struct Framed<F> {
    body: Body,
    framing: F,
    eof: bool,
    failed: bool,
}

impl<F: Framing> Framed<F> {
    fn new(body: Body, framing: F) -> Framed<F> {
        Framed {
            body,
            framing,
            eof: false,
            failed: false,
        }
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<F::Frame>>> {
        loop {
            if self.failed {
                return Poll::Ready(None);
            }
            match self.framing.next_frame(self.eof) {
                Err(error) => {
                    self.failed = true;
                    return Poll::Ready(Some(Err(error)));
                }
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(None) if self.eof => return Poll::Ready(None),
                Ok(None) => {}
            }
            match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => self.framing.push(chunk),
                Poll::Ready(Some(Err(error))) => {
                    self.failed = true;
                    return Poll::Ready(Some(Err(error.into_stream_error())));
                }
                Poll::Ready(None) => self.eof = true,
            }
        }
    }
}

impl Framing for SseDecoder {
    type Frame = SseEvent;

    fn push(&mut self, chunk: Bytes) {
        self.push_bytes(chunk);
    }

    fn next_frame(&mut self, at_eof: bool) -> Result<Option<SseEvent>> {
        if at_eof {
            self.finish()
        } else {
            self.next_event()
        }
    }
}

/// A response body read as server-sent events, for providers whose events carry names
/// (`event: content_block_delta`) or framing of their own. Keep-alive comments are
/// skipped; a line longer than the cap, or a body that breaks, is an `Err` item. The
/// stream ends with the body: whether that end was complete is the provider's to judge
/// (its last event, its own end marker).
pub struct SseEventStream {
    framed: Framed<SseDecoder>,
}

impl std::fmt::Debug for SseEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseEventStream")
            .field("eof", &self.framed.eof)
            .finish_non_exhaustive()
    }
}

impl SseEventStream {
    /// Decode `body`, capping each line at `max_line` bytes (and each event at
    /// [`DEFAULT_MAX_EVENT`](crate::sse::DEFAULT_MAX_EVENT)).
    pub fn new(body: Body, max_line: usize) -> SseEventStream {
        SseEventStream {
            framed: Framed::new(body, SseDecoder::with_max_line(max_line)),
        }
    }

    /// Cap each event's joined `data:` lines at `max_event` bytes.
    #[must_use]
    pub fn max_event(mut self, max_event: usize) -> SseEventStream {
        self.framed.framing.set_max_event(max_event);
        self
    }
}

impl Stream for SseEventStream {
    type Item = Result<SseEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<SseEvent>>> {
        self.framed.poll_frame(cx)
    }
}

/// Newline-delimited records: the bytes waiting for their line end, and the cap on one line.
struct Lines {
    buffer: bytes::BytesMut,
    max_line: usize,
}

impl Lines {
    fn too_long(&self) -> Error {
        Error::decode(format!(
            "a line of the stream exceeds the limit of {} bytes",
            self.max_line
        ))
    }
}

impl Framing for Lines {
    type Frame = Bytes;

    fn push(&mut self, chunk: Bytes) {
        self.buffer.extend_from_slice(&chunk);
    }

    fn next_frame(&mut self, at_eof: bool) -> Result<Option<Bytes>> {
        loop {
            let line = match memchr::memchr(b'\n', &self.buffer) {
                Some(end) => {
                    let mut line = self.buffer.split_to(end + 1);
                    line.truncate(end);
                    line
                }
                None if at_eof && !self.buffer.is_empty() => self.buffer.split(),
                None if self.buffer.len() > self.max_line => return Err(self.too_long()),
                None => return Ok(None),
            };
            if line.len() > self.max_line {
                return Err(self.too_long());
            }
            let line = line.freeze();
            let text = line.trim_ascii_end();
            if !text.trim_ascii_start().is_empty() {
                return Ok(Some(line.slice(..text.len())));
            }
        }
    }
}

/// A response body read as newline-delimited records (NDJSON, JSON Lines): each item is
/// one line without its `\n` (or `\r\n`); blank lines are skipped; a last line without
/// a newline is still a record. A line longer than the cap, or a body that breaks, is an
/// `Err` item and ends the stream.
pub struct LineStream {
    framed: Framed<Lines>,
}

impl std::fmt::Debug for LineStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineStream")
            .field("buffered", &self.framed.framing.buffer.len())
            .field("eof", &self.framed.eof)
            .finish_non_exhaustive()
    }
}

impl LineStream {
    /// Split `body` into lines of at most `max_line` bytes.
    pub fn new(body: Body, max_line: usize) -> LineStream {
        let lines = Lines {
            buffer: bytes::BytesMut::new(),
            max_line,
        };
        LineStream {
            framed: Framed::new(body, lines),
        }
    }
}

impl Stream for LineStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        self.framed.poll_frame(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{TransportError, TransportErrorKind};

    /// A body that hands out `chunks`, then fails if `broken`.
    fn body(chunks: &[&'static str], broken: bool) -> Body {
        let mut items: Vec<std::result::Result<Bytes, TransportError>> = chunks
            .iter()
            .map(|chunk| Ok(Bytes::from_static(chunk.as_bytes())))
            .collect();
        if broken {
            items.push(Err(TransportError::new(TransportErrorKind::Io, "reset")));
        }
        Body::from_stream(futures_util::stream::iter(items))
    }

    fn drain<S: Stream + Unpin>(mut stream: S) -> Vec<S::Item> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut items = Vec::new();
        while let Poll::Ready(Some(item)) = Pin::new(&mut stream).poll_next(&mut cx) {
            items.push(item);
        }
        items
    }

    #[test]
    fn lines_split_across_chunks_crlf_blank_and_unterminated() {
        let stream = LineStream::new(
            body(&["{\"a\"", ":1}\r\n\n  \n{\"b\":", "2}\n{\"c\":3}"], false),
            64,
        );
        let lines: Vec<Bytes> = drain(stream).into_iter().map(|l| l.unwrap()).collect();
        assert_eq!(lines, [&b"{\"a\":1}"[..], b"{\"b\":2}", b"{\"c\":3}"]);
    }

    #[test]
    fn a_line_over_the_cap_and_a_broken_body_end_the_stream_with_an_error() {
        let items = drain(LineStream::new(body(&["ok\n", "0123456789"], false), 8));
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap().as_ref(), b"ok");
        let error = items[1].as_ref().unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Decode);
        assert!(error.message().contains("8 bytes"), "{error}");

        let items = drain(LineStream::new(body(&["one\ntw"], true), 64));
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap().as_ref(), b"one");
        assert_eq!(
            items[1].as_ref().unwrap_err().kind(),
            crate::ErrorKind::Stream
        );
    }

    #[test]
    fn max_event_caps_the_joined_data_lines() {
        // Three `data:` lines of 4 bytes join to 14 (with two `\n`): over a cap of 12.
        let chunks = &["data: aaaa\ndata: bbbb\ndata: cccc\n\n"];
        let items = drain(SseEventStream::new(body(chunks, false), 1024).max_event(12));
        assert_eq!(items.len(), 1);
        let error = items[0].as_ref().unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Decode);
        assert!(error.message().contains("12 bytes"), "{error}");
        // The same event under a cap of 14 passes whole.
        let items = drain(SseEventStream::new(body(chunks, false), 1024).max_event(14));
        assert_eq!(
            items[0].as_ref().unwrap().data.as_ref(),
            b"aaaa\nbbbb\ncccc"
        );
    }

    #[test]
    fn named_events_keep_their_names_and_the_last_event_is_flushed() {
        let stream = SseEventStream::new(
            body(
                &[
                    ": keep-alive\n\nevent: ping\ndata: {}\n\nevent: message_st",
                    "op\ndata: {\"x\":1}",
                ],
                false,
            ),
            1024,
        );
        let events: Vec<SseEvent> = drain(stream).into_iter().map(|e| e.unwrap()).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event.as_deref(), Some("ping"));
        assert_eq!(events[1].event.as_deref(), Some("message_stop"));
        assert_eq!(events[1].data.as_ref(), b"{\"x\":1}");

        let items = drain(SseEventStream::new(body(&["data: a\n\n"], true), 1024));
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[1].as_ref().unwrap_err().kind(),
            crate::ErrorKind::Stream
        );
    }

    #[test]
    fn a_provider_stream_ends_after_its_first_error() {
        let frames = futures_util::stream::iter([
            Err(Error::stream("first")),
            Ok(crate::chat::ChatChunk::default()),
        ]);
        let items = drain(ChatStream::from_stream(ResponseMetadata::default(), frames));
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].as_ref().unwrap_err().message(), "first");
    }

    fn chat_items(chunks: &[&'static str]) -> Vec<Result<crate::chat::ChatChunk>> {
        drain(SseStream::<crate::chat::ChatChunk>::new(
            body(chunks, false),
            ResponseMetadata::default(),
            1024,
        ))
    }

    #[test]
    fn a_null_error_field_is_no_error() {
        let items = chat_items(&[
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"error\":null}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}],\"error\":{}}\n\n",
        ]);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap().content(), Some("a"));
        assert_eq!(
            items[1].as_ref().unwrap_err().kind(),
            crate::ErrorKind::Stream
        );

        let items = drain(SseStream::<crate::completions::CompletionChunk>::new(
            body(
                &[
                    "data: {\"choices\":[{\"index\":0,\"text\":\"t\"}],\"error\":null}\n\n",
                    "data: {\"error\":{\"message\":\"late\"}}\n\n",
                ],
                false,
            ),
            ResponseMetadata::default(),
            1024,
        ));
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap().choices[0].text, "t");
        assert_eq!(items[1].as_ref().unwrap_err().message(), "late");
    }

    #[test]
    fn a_json_body_instead_of_events_keeps_what_the_server_said() {
        // An error envelope answered with a 200, whole, pretty-printed, or after a byte
        // order mark and blank lines, in any chunks.
        for chunks in [
            &[
                r#"{"error":{"message":"Invalid model name passed in model=x","type":"invalid_request_error","code":"400"}}"#,
            ][..],
            &[
                "{\n  \"error\": {\n    \"message\": \"Invalid model name passed in model=x\",\n",
                "    \"code\": \"400\"\n  }\n}\n",
            ],
            &[
                "\u{feff}\r\n  ",
                "{\"error\":{\"message\":\"Invalid model",
                " name passed in model=x\",\"code\":400}}",
            ],
        ] {
            let items = chat_items(chunks);
            assert_eq!(items.len(), 1, "{chunks:?}");
            let error = items[0].as_ref().unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::BadRequest, "{chunks:?}");
            assert_eq!(error.message(), "Invalid model name passed in model=x");
        }
        // A whole answer where a stream was asked for: said so, with the start of it.
        let items = chat_items(&[r#"{"id":"c1","choices":[{"message":{"content":"hi"}}]}"#]);
        let error = items[0].as_ref().unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Decode);
        assert_eq!(
            error.message(),
            "the server answered JSON instead of an event stream (did the gateway ignore \
             `\"stream\": true`?): {\"id\":\"c1\",\"choices\":[{\"message\":{\"content\":\"hi\"}}]}"
        );
        // One JSON line longer than the SSE line cap: the same, not a line-cap error.
        let long: &'static str = Box::leak(
            format!(r#"{{"error":{{"message":"{}"}}}}"#, "m".repeat(2000)).into_boxed_str(),
        );
        let items = chat_items(&[long]);
        let error = items[0].as_ref().unwrap_err();
        assert_eq!(error.message(), "m".repeat(2000));
        // A body that starts like JSON but has events is a stream.
        let items = chat_items(&["{junk}\n\ndata: {\"choices\":[]}\n\n", "data: [DONE]\n\n"]);
        assert_eq!(items.len(), 1);
        assert!(items[0].is_ok());
        // A stream cut before [DONE] still says so.
        let items = chat_items(&["data: {\"choices\":[]}\n\n"]);
        assert_eq!(
            items[1].as_ref().unwrap_err().kind(),
            crate::ErrorKind::Stream
        );
    }

    #[test]
    fn a_provider_streams_errors_have_the_secrets_scrubbed() {
        let frames = futures_util::stream::iter([Err::<crate::chat::ChatChunk, _>(Error::stream(
            "upstream rejected key sk-provider-key-1",
        ))]);
        let mut headers = http::HeaderMap::new();
        headers.insert("x-api-key", http::HeaderValue::from_static("sk-header-2"));
        let stream = ChatStream::from_stream(ResponseMetadata::default(), frames).with_secrets(
            Secrets::new(Some(&crate::ApiKey::new("sk-provider-key-1")), &headers),
        );
        let items = drain(stream);
        assert_eq!(
            items[0].as_ref().unwrap_err().message(),
            "upstream rejected key ***"
        );
    }
}
