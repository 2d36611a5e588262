//! A server-sent-events decoder that does not copy what the network hands it.
//!
//! A network chunk pushed as [`Bytes`] is kept as it is, and every complete line in it is
//! split off as a zero-copy slice, so the `data` of a one-line event (what every
//! OpenAI-style gateway sends) shares the transport's buffer. Only a line cut by a chunk
//! boundary is gathered into a buffer of its own, and only multi-line `data` is joined.
//! UTF-8 is never decoded here: a character split across chunks is simply bytes waiting
//! for the rest of their line. A UTF-8 byte order mark at the very start of the body is
//! dropped, as the SSE specification says, even when it arrives split across chunks.
//!
//! Memory is bounded: one line at most `max_line` bytes, one event's joined data at most
//! `max_event` bytes; past either, decoding fails with a `Decode` error naming the limit.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{Error, Result};

/// The default cap on one SSE line (1 MiB).
pub const DEFAULT_MAX_LINE: usize = 1024 * 1024;

/// The default cap on one SSE event's data, all its `data:` lines joined (8 MiB).
pub const DEFAULT_MAX_EVENT: usize = 8 * 1024 * 1024;

/// The UTF-8 byte order mark, dropped at the start of a body.
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SseEvent {
    /// The `event:` field, when the server named one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: Bytes,
}

impl SseEvent {
    /// An event named `event` (or unnamed) carrying `data`.
    pub fn new(event: Option<String>, data: Bytes) -> SseEvent {
        SseEvent { event, data }
    }
}

/// Incremental SSE decoder: [`push_bytes`](SseDecoder::push_bytes) (or
/// [`push`](SseDecoder::push)) what arrives, then drain
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
    /// A line cut by a chunk boundary, gathered (the only bytes ever copied).
    partial: BytesMut,
    /// How far `partial` has been searched for a line end without finding one.
    scanned: usize,
    /// What arrived after `partial`, not yet split into lines; shared, not copied.
    incoming: Bytes,
    data: Option<Bytes>,
    joined: Option<BytesMut>,
    event: Option<String>,
    max_line: usize,
    max_event: usize,
    /// Nothing but (a start of) a byte order mark has arrived yet.
    at_start: bool,
    /// How many bytes of a byte order mark are held, waiting for the rest (0 to 2).
    bom_held: u8,
}

impl Default for SseDecoder {
    fn default() -> SseDecoder {
        SseDecoder::new()
    }
}

/// Where the first line of `bytes` ends: `(end, terminator length)`. `None` when there is
/// no line end yet, or only a CR at the very end that may be the first half of CRLF
/// (unless `at_eof`, when nothing more will come).
fn line_end(bytes: &[u8], at_eof: bool) -> Option<(usize, usize)> {
    let end = memchr::memchr2(b'\n', b'\r', bytes)?;
    if bytes[end] == b'\n' {
        return Some((end, 1));
    }
    match bytes.get(end + 1) {
        Some(b'\n') => Some((end, 2)),
        Some(_) => Some((end, 1)),
        None if at_eof => Some((end, 1)),
        None => None,
    }
}

impl SseDecoder {
    /// A decoder with the default caps: 1 MiB a line, 8 MiB an event.
    pub fn new() -> SseDecoder {
        SseDecoder::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A decoder that fails on any line longer than `max_line` bytes (and on any event
    /// over the default [`DEFAULT_MAX_EVENT`]).
    pub fn with_max_line(max_line: usize) -> SseDecoder {
        SseDecoder::with_limits(max_line, DEFAULT_MAX_EVENT)
    }

    /// A decoder that fails on any line longer than `max_line` bytes, and on any event
    /// whose `data:` lines, joined, are longer than `max_event` bytes.
    ///
    /// ```
    /// use mishika_core::sse::SseDecoder;
    /// let mut decoder = SseDecoder::with_limits(64, 10);
    /// decoder.push(b"data: 12345\ndata: 67890\n\n");
    /// let error = decoder.next_event().unwrap_err();
    /// assert_eq!(error.message(), "SSE event exceeds the limit of 10 bytes");
    /// ```
    pub fn with_limits(max_line: usize, max_event: usize) -> SseDecoder {
        SseDecoder {
            partial: BytesMut::new(),
            scanned: 0,
            incoming: Bytes::new(),
            data: None,
            joined: None,
            event: None,
            max_line,
            max_event,
            at_start: true,
            bom_held: 0,
        }
    }

    /// Append bytes from the network (copied; [`push_bytes`](SseDecoder::push_bytes)
    /// keeps a `Bytes` without copying).
    pub fn push(&mut self, chunk: &[u8]) {
        self.push_bytes(Bytes::copy_from_slice(chunk));
    }

    /// Append a chunk from the network. Its complete lines are handed out as slices of it,
    /// so an event's `data` shares the chunk's memory: keeping the event keeps the chunk.
    pub fn push_bytes(&mut self, mut chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        if self.at_start {
            match self.skip_bom(chunk) {
                Some(rest) if !rest.is_empty() => chunk = rest,
                _ => return,
            }
        }
        if !self.incoming.is_empty() {
            // Two chunks before the first was drained: keep their order in `partial`.
            self.partial.extend_from_slice(&self.incoming);
        }
        self.incoming = chunk;
    }

    /// At the start of the body: drop a leading byte order mark, which may arrive split
    /// across chunks. `None` while everything so far may still be one (it is held).
    fn skip_bom(&mut self, chunk: Bytes) -> Option<Bytes> {
        let held = usize::from(self.bom_held);
        let wanted = BOM.len() - held;
        let take = wanted.min(chunk.len());
        if chunk[..take] == BOM[held..held + take] {
            if take < wanted {
                // At most two bytes: the third would have completed the mark.
                self.bom_held = u8::try_from(held + take).unwrap_or(2);
                return None;
            }
            self.at_start = false;
            self.bom_held = 0;
            return Some(chunk.slice(take..));
        }
        // Not a byte order mark: what was held is data.
        self.at_start = false;
        self.bom_held = 0;
        if held == 0 {
            return Some(chunk);
        }
        let mut joined = BytesMut::with_capacity(held + chunk.len());
        joined.extend_from_slice(&BOM[..held]);
        joined.extend_from_slice(&chunk);
        Some(joined.freeze())
    }

    /// Change the cap on one event's joined data (see [`with_limits`](SseDecoder::with_limits)).
    pub(crate) fn set_max_event(&mut self, max_event: usize) {
        self.max_event = max_event;
    }

    /// Bytes received but not yet part of a complete line.
    pub fn buffered(&self) -> usize {
        self.partial.len() + self.incoming.len() + usize::from(self.bom_held)
    }

    /// The next complete event, `None` when more bytes are needed.
    ///
    /// Fails with a [`Decode`](crate::ErrorKind::Decode) error when a line exceeds the cap.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>> {
        if let Some(event) = self.one_line_event() {
            return Ok(Some(event));
        }
        while let Some(line) = self.next_line(false)? {
            if let Some(event) = self.process_line(line)? {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    /// The shape nearly every event has, `data: <value>` and a blank line, both LF-ended
    /// and wholly in the current chunk with nothing pending: found with one search and
    /// handed out as one slice. Anything else is left to the line-by-line path.
    fn one_line_event(&mut self) -> Option<SseEvent> {
        if !self.partial.is_empty()
            || self.data.is_some()
            || self.joined.is_some()
            || self.event.is_some()
        {
            return None;
        }
        let bytes = &self.incoming[..];
        let value_start = match bytes.strip_prefix(b"data:")?.first() {
            Some(b' ') => 6,
            _ => 5,
        };
        let end = memchr::memchr2(b'\n', b'\r', bytes)?;
        if end > self.max_line
            || end > self.max_event
            || bytes.get(end..end + 2) != Some(b"\n\n".as_slice())
        {
            return None;
        }
        let data = self.incoming.slice(value_start.min(end)..end);
        self.incoming.advance(end + 2);
        self.release_incoming();
        Some(SseEvent { event: None, data })
    }

    /// At end of input: the last event if the stream ended without its blank line.
    pub fn finish(&mut self) -> Result<Option<SseEvent>> {
        if self.at_start {
            // The body ended inside what could have been a byte order mark: it was data.
            let held = usize::from(self.bom_held);
            self.at_start = false;
            self.bom_held = 0;
            self.push_bytes(Bytes::copy_from_slice(&BOM[..held]));
        }
        while let Some(line) = self.next_line(true)? {
            if let Some(event) = self.process_line(line)? {
                return Ok(Some(event));
            }
        }
        Ok(self.dispatch())
    }

    fn next_line(&mut self, at_eof: bool) -> Result<Option<Bytes>> {
        if self.partial.is_empty() {
            if let Some((end, terminator)) = line_end(&self.incoming, at_eof) {
                self.check_line(end)?;
                let line = self.incoming.split_to(end);
                self.incoming.advance(terminator);
                self.release_incoming();
                return Ok(Some(line));
            }
            // The chunk ends inside a line: that tail is all that gets copied.
            self.partial.extend_from_slice(&self.incoming);
            self.incoming = Bytes::new();
            self.scanned = 0;
        }
        loop {
            let scan_from = self.scanned.saturating_sub(1);
            if let Some((offset, terminator)) = line_end(&self.partial[scan_from..], at_eof) {
                let end = scan_from + offset;
                self.check_line(end)?;
                let line = self.partial.split_to(end).freeze();
                self.partial.advance(terminator);
                self.scanned = 0;
                return Ok(Some(line));
            }
            self.scanned = self.partial.len();
            // A CR at the very end may be half of a CRLF: it is not part of the line.
            let waiting_cr = self.partial.last() == Some(&b'\r');
            self.check_line(self.partial.len() - usize::from(waiting_cr))?;
            if self.incoming.is_empty() {
                if at_eof && !self.partial.is_empty() {
                    self.scanned = 0;
                    return Ok(Some(self.partial.split().freeze()));
                }
                return Ok(None);
            }
            // Bring over the incoming bytes up to its first line end (and the byte after
            // it, which may complete a CRLF).
            let take = memchr::memchr2(b'\n', b'\r', &self.incoming)
                .map_or(self.incoming.len(), |end| {
                    (end + 2).min(self.incoming.len())
                });
            self.partial.extend_from_slice(&self.incoming[..take]);
            self.incoming.advance(take);
            self.release_incoming();
        }
    }

    /// Fail on a line longer than the cap.
    fn check_line(&self, length: usize) -> Result<()> {
        if length > self.max_line {
            return Err(Error::decode(format!(
                "SSE line exceeds the limit of {} bytes",
                self.max_line
            )));
        }
        Ok(())
    }

    /// Drop the reference to a fully split chunk, so the transport can reuse its buffer.
    fn release_incoming(&mut self) {
        if self.incoming.is_empty() {
            self.incoming = Bytes::new();
        }
    }

    fn process_line(&mut self, mut line: Bytes) -> Result<Option<SseEvent>> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line[0] == b':' {
            return Ok(None); // comment / keep-alive
        }
        let (field, value_start) = match memchr::memchr(b':', &line) {
            Some(colon) if line.get(colon + 1) == Some(&b' ') => (colon, colon + 2),
            Some(colon) => (colon, colon + 1),
            None => (line.len(), line.len()),
        };
        let is_data = &line[..field] == b"data";
        let is_event = &line[..field] == b"event";
        // The value is the line itself, moved past its field name: no new reference.
        line.advance(value_start);
        if is_data {
            self.add_data(line)?;
        } else if is_event {
            self.event = Some(String::from_utf8_lossy(&line).into_owned());
        } // id, retry and unknown fields carry nothing for us
        Ok(None)
    }

    /// Add one `data:` line's value to the event, failing when the event would grow past
    /// its cap (before anything past it is held).
    fn add_data(&mut self, value: Bytes) -> Result<()> {
        let held = match (&self.joined, &self.data) {
            (Some(joined), _) => joined.len() + 1,
            (None, Some(data)) => data.len() + 1,
            (None, None) => 0,
        };
        if held.saturating_add(value.len()) > self.max_event {
            self.data = None;
            self.joined = None;
            self.event = None;
            return Err(Error::decode(format!(
                "SSE event exceeds the limit of {} bytes",
                self.max_event
            )));
        }
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
        Ok(())
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

    /// Decode `chunks` pushed one at a time, each drained before the next (as a stream
    /// does); then again with every two chunks pushed before draining, which must agree.
    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let drained_each = decode_with(chunks, 1);
        assert_eq!(decode_with(chunks, 2), drained_each, "pushed two at a time");
        drained_each
    }

    fn decode_with(chunks: &[&[u8]], per_drain: usize) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            decoder.push_bytes(Bytes::copy_from_slice(chunk));
            if (i + 1) % per_drain == 0 {
                while let Some(event) = decoder.next_event().unwrap() {
                    events.push(event);
                }
            }
        }
        while let Some(event) = decoder.next_event().unwrap() {
            events.push(event);
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
    fn the_default_event_cap_takes_an_event_of_several_default_lines() {
        // 4 lines of 1 MiB less a little, 4 MiB in all: under the default 8 MiB event cap,
        // though each line is near the 1 MiB line cap.
        let line = "a".repeat(DEFAULT_MAX_LINE - 16);
        let mut body = String::new();
        for _ in 0..4 {
            body.push_str("data: ");
            body.push_str(&line);
            body.push('\n');
        }
        body.push('\n');
        let events = decode_all(&[body.as_bytes()]);
        assert_eq!(events.len(), 1);
        // The four lines joined by `\n`.
        assert_eq!(events[0].data.len(), 4 * line.len() + 3);
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
    fn a_line_at_the_cap_ending_in_crlf_split_anywhere() {
        // 17 bytes, then CRLF: the CR waiting for its LF is not part of the line.
        let input = b"data:\ndat[DONE] [DONE] \r\n";
        for (i, j) in [(24, 25), (23, 24), (0, 25)] {
            let mut decoder = SseDecoder::with_max_line(17);
            for chunk in [&input[..i], &input[i..j], &input[j..]] {
                decoder.push(chunk);
                while decoder.next_event().unwrap().is_some() {}
            }
            assert!(decoder.finish().unwrap().is_some(), "split at {i},{j}");
        }
        let mut decoder = SseDecoder::with_max_line(16);
        decoder.push(input);
        assert!(decoder.next_event().is_err());
    }

    #[test]
    fn data_is_a_slice_of_the_pushed_chunk() {
        let mut decoder = SseDecoder::new();
        let chunk = Bytes::from_static(b"data: {\"x\":1}\n\ndata: {\"y\":");
        let chunk_range = chunk.as_ptr_range();
        decoder.push_bytes(chunk);
        let event = decoder.next_event().unwrap().unwrap();
        assert_eq!(&event.data[..], b"{\"x\":1}");
        assert!(
            chunk_range.contains(&event.data.as_ptr()),
            "data was copied"
        );
        assert!(decoder.next_event().unwrap().is_none());
        // Only the cut line is gathered; it completes with the next chunk.
        assert_eq!(decoder.buffered(), b"data: {\"y\":".len());
        decoder.push_bytes(Bytes::from_static(b"2}\n\n"));
        assert_eq!(
            &decoder.next_event().unwrap().unwrap().data[..],
            b"{\"y\":2}"
        );
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn a_leading_byte_order_mark_is_dropped_however_it_is_split() {
        let events = assert_split_invariant(b"\xEF\xBB\xBFdata: first\n\ndata: second\n\n");
        assert_eq!(data(&events), ["first", "second"]);
        // Only at the very start, and only one.
        let events = assert_split_invariant(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n");
        assert_eq!(
            data(&events),
            ["y"],
            "a second mark is part of the first line"
        );
        let events = assert_split_invariant(b"data: a\xEF\xBB\xBF\n\n\xEF\xBB\xBFdata: b\n\n");
        assert_eq!(data(&events), ["a\u{feff}"]);
        // A start of a mark that is not one stays: here it makes the first line's field
        // name unknown, so only the second event comes through.
        let events = assert_split_invariant(b"\xEF\xBBdata: x\n\ndata: y\n\n");
        assert_eq!(data(&events), ["y"]);
        let events = assert_split_invariant(b"\xEF\xBB\xBEdata: x\n\ndata: y\n\n");
        assert_eq!(data(&events), ["y"]);
        // A body that is only a start of a mark, or only a mark, has no event.
        for body in [&b"\xEF"[..], b"\xEF\xBB", b"\xEF\xBB\xBF"] {
            assert!(assert_split_invariant(body).is_empty());
        }
        let mut decoder = SseDecoder::new();
        decoder.push(b"\xEF\xBB");
        assert_eq!(decoder.buffered(), 2, "the held bytes count as buffered");
        assert!(decoder.next_event().unwrap().is_none());
        decoder.push(b"\xBFdata: z\n\n");
        assert_eq!(data(&[decoder.next_event().unwrap().unwrap()]), ["z"]);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn one_event_of_many_data_lines_is_capped() {
        // 10 bytes joined (`12345\n6789`) is at the cap; 11 is over it.
        let events = {
            let mut decoder = SseDecoder::with_limits(64, 10);
            decoder.push(b"data: 12345\ndata: 6789\n\n");
            decoder.next_event().unwrap()
        };
        assert_eq!(
            data(&events.into_iter().collect::<Vec<_>>()),
            ["12345\n6789"]
        );
        for input in [
            &b"data: 12345\ndata: 67890\n\n"[..],
            b"data: 12345678901\n\n",
            b"data: 1\ndata: 2\ndata: 3\ndata: 4\ndata: 5\ndata: 6\n\n",
        ] {
            for size in [1, 3, input.len()] {
                let mut decoder = SseDecoder::with_limits(64, 10);
                let mut result = Ok(None);
                for chunk in input.chunks(size) {
                    decoder.push(chunk);
                    result = decoder.next_event();
                    if result.is_err() {
                        break;
                    }
                }
                let error = result.unwrap_err();
                assert_eq!(error.kind(), crate::ErrorKind::Decode);
                assert_eq!(error.message(), "SSE event exceeds the limit of 10 bytes");
            }
        }
        // Memory stays bounded: a server sending data lines forever is stopped at the cap.
        let mut decoder = SseDecoder::with_limits(64, 1000);
        let mut lines = 0;
        let error = loop {
            decoder.push(b"data: 0123456789\n");
            lines += 1;
            if let Err(error) = decoder.next_event() {
                break error;
            }
            assert!(lines < 200, "never stopped");
        };
        // 91 lines joined are exactly 1000 bytes (11 × 91 − 1): the 92nd is refused.
        assert_eq!(lines, 92, "stopped at the line that would pass 1000 bytes");
        assert_eq!(error.message(), "SSE event exceeds the limit of 1000 bytes");
        assert_eq!(SseDecoder::new().max_event, DEFAULT_MAX_EVENT);
    }
}
