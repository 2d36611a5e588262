//! `SseDecoder` on arbitrary bytes: never panics, fails only with `Decode`, keeps its buffer
//! bounded, and decodes the same events (and the same error) however the bytes are split;
//! a UTF-8 byte order mark put before the body (one without its own) changes nothing,
//! however that is split.
//!
//! Input layout: byte 0 picks the line cap (bit 7 set: the 1 MiB default, else 1..=128
//! bytes); bytes 1-2 pick a split position; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mishika_core::ErrorKind;
use mishika_core::sse::{DEFAULT_MAX_LINE, SseDecoder, SseEvent};

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, PartialEq)]
struct Decoded {
    events: Vec<SseEvent>,
    error: Option<(ErrorKind, String)>,
}

/// The events so far and the error that ended decoding.
fn stopped(events: Vec<SseEvent>, error: mishika_core::Error) -> Decoded {
    Decoded {
        events,
        error: Some((error.kind(), error.message().to_owned())),
    }
}

fn decode<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, max_line: usize) -> Decoded {
    let mut decoder = SseDecoder::with_max_line(max_line);
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(error) => return stopped(events, error),
            }
        }
        assert!(decoder.buffered() <= max_line + 1, "unbounded buffer");
    }
    loop {
        match decoder.finish() {
            Ok(Some(event)) => events.push(event),
            Ok(None) => break,
            Err(error) => return stopped(events, error),
        }
    }
    assert_eq!(decoder.buffered(), 0, "finish left bytes behind");
    Decoded {
        events,
        error: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let [cap, hi, lo, body @ ..] = data else {
        return;
    };
    let max_line = if cap & 0x80 != 0 {
        DEFAULT_MAX_LINE
    } else {
        usize::from(cap & 0x7f) + 1
    };
    let at = usize::from(u16::from_be_bytes([*hi, *lo])) % (body.len() + 1);

    let whole = decode([body], max_line);
    if let Some((kind, _)) = &whole.error {
        assert_eq!(*kind, ErrorKind::Decode);
    }
    let (head, tail) = body.split_at(at);
    assert_eq!(decode([head, tail], max_line), whole, "split at {at}");
    assert_eq!(decode(body.chunks(1), max_line), whole, "byte by byte");

    if !body.starts_with(BOM) {
        let marked = [BOM, body].concat();
        let (head, tail) = marked.split_at(at.min(marked.len()));
        assert_eq!(decode([head, tail], max_line), whole, "after a mark, split at {at}");
        assert_eq!(decode(marked.chunks(1), max_line), whole, "after a mark, byte by byte");
    }
});
