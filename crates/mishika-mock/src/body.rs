//! The response body type: either a whole buffer (sent with `content-length`)
//! or a chunked stream with optional pacing, abrupt abort or hold-open.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::watch;
use tokio::time::Sleep;

/// Counts streamed bodies that were dropped before all their data was handed
/// to hyper (the client went away, or the connection was torn down).
#[derive(Debug, Clone)]
pub(crate) struct DropTracker(watch::Sender<usize>);

impl DropTracker {
    pub(crate) fn new() -> Self {
        DropTracker(watch::Sender::new(0))
    }

    pub(crate) fn count(&self) -> usize {
        *self.0.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<usize> {
        self.0.subscribe()
    }

    fn record_drop(&self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// Where the chunks of a streamed body come from.
#[derive(Debug)]
pub(crate) enum ChunkSource {
    /// Pre-built chunks, sent one by one.
    List(VecDeque<Bytes>),
    /// `remaining` bytes of the pattern `byte[k] = (k % 251) as u8`,
    /// generated lazily in chunks of `chunk_size` bytes (bounded memory).
    Pattern {
        offset: u64,
        remaining: u64,
        chunk_size: usize,
    },
}

impl ChunkSource {
    /// A list source; empty chunks are skipped.
    pub(crate) fn list(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        ChunkSource::List(chunks.into_iter().filter(|c| !c.is_empty()).collect())
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        match self {
            ChunkSource::List(chunks) => chunks.pop_front(),
            ChunkSource::Pattern {
                offset,
                remaining,
                chunk_size,
            } => {
                if *remaining == 0 {
                    return None;
                }
                let len = (*chunk_size)
                    .max(1)
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                let start = *offset;
                let chunk: Vec<u8> = (0..len as u64).map(|k| ((start + k) % 251) as u8).collect();
                *offset += len as u64;
                *remaining -= len as u64;
                Some(Bytes::from(chunk))
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            ChunkSource::List(chunks) => chunks.is_empty(),
            ChunkSource::Pattern { remaining, .. } => *remaining == 0,
        }
    }
}

/// What a streamed body does once its chunks are exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// End the body cleanly (terminating chunk).
    Finish,
    /// Fail the body so hyper aborts the connection without the terminating chunk.
    Abort,
    /// Never finish: the body stays pending until the client goes away.
    HoldOpen,
}

/// Options of a streamed body.
#[derive(Debug)]
pub(crate) struct StreamPlan {
    pub(crate) source: ChunkSource,
    pub(crate) chunk_delay: Option<Duration>,
    /// Send at most this many body bytes, then abort.
    pub(crate) drop_after: Option<usize>,
    pub(crate) ending: Ending,
}

impl StreamPlan {
    /// A plain stream of chunks that finishes cleanly.
    pub(crate) fn chunks(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        StreamPlan {
            source: ChunkSource::list(chunks),
            chunk_delay: None,
            drop_after: None,
            ending: Ending::Finish,
        }
    }
}

/// The body of every response the gateway sends.
#[derive(Debug)]
pub(crate) struct MockBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Stream(Box<StreamState>),
}

struct StreamState {
    plan: StreamPlan,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Return `Pending` once (after waking ourselves) before the next chunk, so
    /// hyper flushes every chunk on its own: clients see real network chunking.
    yield_first: bool,
    /// All data was handed to hyper (or the planned abort happened).
    done: bool,
    tracker: DropTracker,
}

impl std::fmt::Debug for StreamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamState")
            .field("plan", &self.plan)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl MockBody {
    /// A whole body, sent with `content-length`.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        MockBody {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// An empty body.
    pub(crate) fn empty() -> Self {
        MockBody {
            kind: Kind::Full(None),
        }
    }

    /// A streamed body (chunked transfer encoding); dropping it before it is
    /// done increments `tracker`.
    pub(crate) fn stream(plan: StreamPlan, tracker: DropTracker) -> Self {
        MockBody {
            kind: Kind::Stream(Box::new(StreamState {
                plan,
                sleep: None,
                // Let hyper flush the head before the first chunk.
                yield_first: true,
                done: false,
                tracker,
            })),
        }
    }
}

impl StreamState {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(sleep) = self.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        if self.yield_first {
            self.yield_first = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let budget_left = self.plan.drop_after != Some(0);
        let next = if budget_left {
            self.plan.source.next_chunk()
        } else {
            None
        };
        match next {
            Some(mut chunk) => {
                if let Some(budget) = self.plan.drop_after.as_mut() {
                    chunk.truncate(*budget);
                    *budget -= chunk.len();
                }
                let more = !self.plan.source.is_empty() && self.plan.drop_after != Some(0);
                if !more && self.plan.ending == Ending::Finish {
                    // Last chunk: hyper writes it together with the terminator.
                    self.done = true;
                } else {
                    self.yield_first = true;
                    if more {
                        if let Some(delay) = self.plan.chunk_delay {
                            self.sleep = Some(Box::pin(tokio::time::sleep(delay)));
                        }
                    }
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            None => match self.plan.ending {
                Ending::Finish => {
                    self.done = true;
                    Poll::Ready(None)
                }
                Ending::Abort => {
                    self.done = true;
                    Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "mishika-mock: scripted drop_after",
                    ))))
                }
                // Never woken: the body only goes away when hyper drops it.
                Ending::HoldOpen => Poll::Pending,
            },
        }
    }
}

impl Drop for StreamState {
    fn drop(&mut self) {
        if !self.done {
            self.tracker.record_drop();
        }
    }
}

impl http_body::Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(state) => state.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Stream(state) => state.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}
