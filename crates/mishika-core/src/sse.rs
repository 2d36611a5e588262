//! A server-sent-events decoder that scans one `BytesMut` in place.
//!
//! Network chunks are appended to a single buffer; lines are found with `memchr` and split
//! off without copying, so the `data` of a one-line event (what every OpenAI-style gateway
//! sends) is a zero-copy slice of the buffer. Only multi-line `data` is joined.
//! UTF-8 is never decoded here: a character split across chunks is simply bytes waiting
//! for the rest of their line.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{Error, Result};

/// The default cap on one SSE line (1 MiB).
pub const DEFAULT_MAX_LINE: usize = 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, when the server named one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: Bytes,
}

/// Incremental SSE decoder: [`push`](SseDecoder::push) bytes, then drain
/// [`next_event`](SseDecoder::next_event) until it returns `None`.
///
/// ```
/// use mishika_core::sse::SseDecoder;
/// let mut decoder = SseDecoder::new();
/// decoder.push(b"data: {\"a\":1}\r\n\r\n: keep-alive\n\ndata: [DO");
/// let event = decoder.next_event().unwrap().unwrap();
/// assert_eq!(&event.data[..], b"{\"a\":1}");
/// assert!(decoder.next_event().unwrap().is_none());
/// decoder.push(b"NE]\n\n");
/// assert_eq!(&decoder.next_event().unwrap().unwrap().data[..], b"[DONE]");
/// ```
#[derive(Debug)]
pub struct SseDecoder {
    buffer: BytesMut,
    /// How far `buffer` has been searched for a line end without finding one.
    scanned: usize,
    data: Option<Bytes>,
    joined: Option<BytesMut>,
    event: Option<String>,
    max_line: usize,
}

impl Default for SseDecoder {
    fn default() -> SseDecoder {
        SseDecoder::new()
    }
}

impl SseDecoder {
    /// A decoder with the default 1 MiB line cap.
    pub fn new() -> SseDecoder {
        SseDecoder::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A decoder that fails on any line longer than `max_line` bytes.
    pub fn with_max_line(max_line: usize) -> SseDecoder {
        SseDecoder {
            buffer: BytesMut::new(),
            scanned: 0,
            data: None,
            joined: None,
            event: None,
            max_line,
        }
    }

    /// Append bytes from the network.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// Bytes received but not yet part of a complete line.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete event, `None` when more bytes are needed.
    ///
    /// Fails with a [`Decode`](crate::ErrorKind::Decode) error when a line exceeds the cap.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>> {
        while let Some(line) = self.next_line(false)? {
            if let Some(event) = self.process_line(line) {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    /// At end of input: the last event if the stream ended without its blank line.
    pub fn finish(&mut self) -> Result<Option<SseEvent>> {
        while let Some(line) = self.next_line(true)? {
            if let Some(event) = self.process_line(line) {
                return Ok(Some(event));
            }
        }
        Ok(self.dispatch())
    }

    fn next_line(&mut self, at_eof: bool) -> Result<Option<Bytes>> {
        let found = memchr::memchr2(b'\n', b'\r', &self.buffer[self.scanned..])
            .map(|offset| self.scanned + offset);
        let Some(end) = found else {
            if self.buffer.len() > self.max_line {
                return Err(Error::decode(format!(
                    "SSE line exceeds the limit of {} bytes",
                    self.max_line
                )));
            }
            if at_eof && !self.buffer.is_empty() {
                self.scanned = 0;
                return Ok(Some(self.buffer.split().freeze()));
            }
            self.scanned = self.buffer.len();
            return Ok(None);
        };
        if end > self.max_line {
            return Err(Error::decode(format!(
                "SSE line exceeds the limit of {} bytes",
                self.max_line
            )));
        }
        let terminator = if self.buffer[end] == b'\r' {
            match self.buffer.get(end + 1) {
                Some(b'\n') => 2,
                Some(_) => 1,
                // A lone CR at the end of what arrived may be the first half of CRLF.
                None if at_eof => 1,
                None => {
                    self.scanned = end;
                    return Ok(None);
                }
            }
        } else {
            1
        };
        let line = self.buffer.split_to(end).freeze();
        self.buffer.advance(terminator);
        self.scanned = 0;
        Ok(Some(line))
    }

    fn process_line(&mut self, line: Bytes) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None; // comment / keep-alive
        }
        let (name, value) = match memchr::memchr(b':', &line) {
            Some(colon) => {
                let start = if line.get(colon + 1) == Some(&b' ') {
                    colon + 2
                } else {
                    colon + 1
                };
                (&line[..colon], line.slice(start..))
            }
            None => (&line[..], Bytes::new()),
        };
        match name {
            b"data" => self.add_data(value),
            b"event" => self.event = Some(String::from_utf8_lossy(&value).into_owned()),
            _ => {} // id, retry and unknown fields carry nothing for us
        }
        None
    }

    fn add_data(&mut self, value: Bytes) {
        if let Some(joined) = &mut self.joined {
            joined.extend_from_slice(b"\n");
            joined.extend_from_slice(&value);
        } else if let Some(first) = self.data.take() {
            let mut joined = BytesMut::with_capacity(first.len() + 1 + value.len());
            joined.extend_from_slice(&first);
            joined.extend_from_slice(b"\n");
            joined.extend_from_slice(&value);
            self.joined = Some(joined);
        } else {
            self.data = Some(value);
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let data = match (self.data.take(), self.joined.take()) {
            (_, Some(joined)) => joined.freeze(),
            (Some(data), None) => data,
            (None, None) => {
                self.event = None;
                return None;
            }
        };
        Some(SseEvent {
            event: self.event.take(),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        for chunk in chunks {
            decoder.push(chunk);
            while let Some(event) = decoder.next_event().unwrap() {
                events.push(event);
            }
        }
        while let Some(event) = decoder.finish().unwrap() {
            events.push(event);
        }
        events
    }

    /// Every split of `input` into two and three pieces decodes to the same events.
    fn assert_split_invariant(input: &[u8]) -> Vec<SseEvent> {
        let whole = decode_all(&[input]);
        for i in 0..=input.len() {
            assert_eq!(
                decode_all(&[&input[..i], &input[i..]]),
                whole,
                "split at {i}"
            );
            for j in i..=input.len() {
                assert_eq!(
                    decode_all(&[&input[..i], &input[i..j], &input[j..]]),
                    whole,
                    "split at {i},{j}"
                );
            }
        }
        let bytewise: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(decode_all(&bytewise), whole, "byte by byte");
        whole
    }

    fn data(events: &[SseEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| String::from_utf8(e.data.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn openai_stream_with_done() {
        let input = b"data: {\"a\":1}\n\ndata: {\"b\":\"h\xc3\xa9llo \xf0\x9f\x98\x80\"}\n\ndata: [DONE]\n\n";
        let events = assert_split_invariant(input);
        assert_eq!(
            data(&events),
            ["{\"a\":1}", "{\"b\":\"héllo 😀\"}", "[DONE]"]
        );
    }

    #[test]
    fn crlf_cr_comments_keepalives_and_fields() {
        let input = b": keep-alive\r\n\r\nevent: error\r\ndata: x\r\nid: 7\r\nretry: 100\r\n\r\ndata:y\rdata: z\r\r:ping\n\n";
        let events = assert_split_invariant(input);
        assert_eq!(data(&events), ["x", "y\nz"]);
        assert_eq!(events[0].event.as_deref(), Some("error"));
        assert_eq!(events[1].event, None);
    }

    #[test]
    fn multi_line_data_and_eof_without_blank_line() {
        let input = b"data: one\ndata: two\n\ndata: tail";
        let events = assert_split_invariant(input);
        assert_eq!(data(&events), ["one\ntwo", "tail"]);
    }

    #[test]
    fn empty_data_line_and_no_space() {
        let events = assert_split_invariant(b"data\n\ndata:\n\ndata:x\n\n");
        assert_eq!(data(&events), ["", "", "x"]);
    }

    #[test]
    fn line_cap_is_enforced_with_bounded_memory() {
        let mut decoder = SseDecoder::with_max_line(16);
        decoder.push(b"data: 0123456789");
        assert!(decoder.next_event().unwrap().is_none());
        decoder.push(b"abcdefgh");
        let error = decoder.next_event().unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Decode);
        let mut decoder = SseDecoder::with_max_line(16);
        decoder.push(b"data: 0123456789abcdefgh\n\n");
        assert!(decoder.next_event().is_err());
    }

    #[test]
    fn data_is_a_slice_of_the_buffer() {
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: {\"x\":1}\n\n");
        let event = decoder.next_event().unwrap().unwrap();
        assert_eq!(&event.data[..], b"{\"x\":1}");
        assert_eq!(decoder.buffered(), 0);
    }
}
