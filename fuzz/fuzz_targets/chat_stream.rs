//! The whole streaming path on arbitrary bytes: `SseStream<ChatChunk>` over a body split in
//! two, each chunk folded into a `ChatStreamAccumulator`. Never panics, at most one error
//! and it ends the stream, and the same items as the unsplit body.
//!
//! Input layout: bytes 0-1 pick the split position; the rest is the body.
#![no_main]

use std::task::{Context, Poll, Waker};

use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use mishika_core::reexports::bytes::Bytes;
use mishika_core::sse::DEFAULT_MAX_LINE;
use mishika_core::{Body, ChatChunk, ChatStreamAccumulator, ResponseMetadata, SseStream};

/// Items as comparable text: `Ok(chunk JSON)` or `Err(kind: message)`.
fn run(chunks: Vec<Bytes>) -> Vec<Result<String, String>> {
    let body = Body::from_stream(futures_util::stream::iter(chunks.into_iter().map(Ok)));
    let mut stream =
        SseStream::<ChatChunk>::new(body, ResponseMetadata::default(), DEFAULT_MAX_LINE);
    let mut cx = Context::from_waker(Waker::noop());
    let mut accumulator = ChatStreamAccumulator::default();
    let mut items = Vec::new();
    loop {
        match stream.poll_next_unpin(&mut cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                accumulator.push(&chunk);
                items.push(Ok(serde_json::to_string(&chunk).unwrap_or_default()));
            }
            Poll::Ready(Some(Err(error))) => {
                items.push(Err(format!("{}: {}", error.kind(), error.message())));
            }
            Poll::Ready(None) => break,
            Poll::Pending => panic!("Pending over an always-ready body"),
        }
    }
    let _ = accumulator.finish();
    items
}

fuzz_target!(|data: &[u8]| {
    let [hi, lo, body @ ..] = data else {
        return;
    };
    let at = usize::from(u16::from_be_bytes([*hi, *lo])) % (body.len() + 1);
    let whole = run(vec![Bytes::copy_from_slice(body)]);
    let errors = whole.iter().filter(|item| item.is_err()).count();
    assert!(errors <= 1, "several errors: {whole:?}");
    assert!(
        errors == 0 || whole.last().is_some_and(Result::is_err),
        "items after an error"
    );
    let (head, tail) = body.split_at(at);
    let split = run(vec![
        Bytes::copy_from_slice(head),
        Bytes::copy_from_slice(tail),
    ]);
    assert_eq!(split, whole, "split at {at}");
});
