//! [`SseStream`]: a response body decoded as server-sent events into typed frames.
//!
//! Rules: `[DONE]` ends the stream; comments and keep-alives are skipped; an in-band
//! `{"error": …}` frame (or an `event: error`) becomes an `Err` item; a frame that is not
//! the expected JSON is a `Decode` item naming the bytes; a body that ends or breaks before
//! `[DONE]` is a `Stream` item. After any `Err` item the stream ends.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, truncated_text};
use crate::options::ResponseMetadata;
use crate::sse::{SseDecoder, SseEvent};
use crate::transport::Body;

/// A frame type an [`SseStream`] can yield.
pub trait StreamFrame: DeserializeOwned + Send + 'static {
    /// State kept across the frames of one stream (e.g. shared repeated strings).
    type Decoder: Default + Send + Unpin + 'static;

    /// Decode one frame's JSON.
    fn decode(decoder: &mut Self::Decoder, json: &[u8]) -> serde_json::Result<Self>;

    /// True when this decoded frame is really an in-band error (`{"error": …}`).
    fn is_error_frame(&self) -> bool;
}

impl StreamFrame for crate::chat::ChatChunk {
    type Decoder = crate::chat::ChunkStrings;

    fn decode(decoder: &mut Self::Decoder, json: &[u8]) -> serde_json::Result<Self> {
        decoder.decode(json)
    }

    fn is_error_frame(&self) -> bool {
        self.extra.contains_key("error")
    }
}

impl StreamFrame for crate::completions::CompletionChunk {
    type Decoder = ();

    fn decode(_: &mut (), json: &[u8]) -> serde_json::Result<Self> {
        crate::wire::from_json(json)
    }

    fn is_error_frame(&self) -> bool {
        self.extra.contains_key("error")
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
    _frame: PhantomData<fn() -> T>,
}

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
            _frame: PhantomData,
        }
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
        Poll::Ready(Some(Err(error)))
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
            match this.decoder.next_event() {
                Err(error) => return this.fail(error),
                Ok(Some(event)) => match this.handle(event) {
                    Some(Err(error)) => return this.fail(error),
                    Some(Ok(frame)) => return Poll::Ready(Some(Ok(frame))),
                    None if this.finished => {
                        this.drain_ready(cx);
                        return Poll::Ready(None);
                    }
                    None => continue,
                },
                Ok(None) => {}
            }
            if this.eof {
                // End of body: flush a last event that had no blank line after it.
                match this.decoder.finish() {
                    Err(error) => return this.fail(error),
                    Ok(Some(event)) => match this.handle(event) {
                        Some(Err(error)) => return this.fail(error),
                        Some(Ok(frame)) => return Poll::Ready(Some(Ok(frame))),
                        None => continue,
                    },
                    Ok(None) if this.finished => return Poll::Ready(None),
                    Ok(None) => {
                        return this.fail(Error::stream(
                            "the stream ended before [DONE]: the answer may be incomplete",
                        ));
                    }
                }
            }
            match Pin::new(&mut this.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => this.decoder.push_bytes(chunk),
                Poll::Ready(Some(Err(error))) => return this.fail(error.into_stream_error()),
                Poll::Ready(None) => this.eof = true,
            }
        }
    }
}
