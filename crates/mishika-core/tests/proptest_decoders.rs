//! Property tests for every decoder of network input: the SSE decoder, the typed
//! `SseStream`, the JSON response types and the error envelope parsers.
//!
//! Two families of properties:
//! - robustness: random bytes and hostile JSON (deep nesting, absurd numbers, huge strings,
//!   invalid UTF-8) never panic, and fail only with the documented error kinds;
//! - equivalence: valid input decodes to the same result however the network splits it,
//!   and unknown JSON keys never change what the known fields decode to.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode};
use mishika_core::decode::decode_json;
use mishika_core::error::{ApiErrorDetails, MAX_ERROR_BODY};
use mishika_core::sse::{DEFAULT_MAX_LINE, SseDecoder, SseEvent};
use mishika_core::{Body, ChatChunk, ChatResponse, Error, ErrorKind, ResponseMetadata, SseStream};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

/// The default 256 cases, without writing regression files into the source tree.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Splitting helpers
// ---------------------------------------------------------------------------------------

/// `input` cut at the given points (any order, duplicates and empty pieces allowed).
fn split_at_points<'a>(input: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for point in points {
        chunks.push(&input[start..point]);
        start = point;
    }
    chunks.push(&input[start..]);
    chunks
}

/// Every way this test splits one input: whole, at random points, byte by byte, and in
/// fixed-size chunks.
fn splits<'a>(input: &'a [u8], cuts: &[Index], size: usize) -> Vec<(String, Vec<&'a [u8]>)> {
    vec![
        ("whole".to_owned(), vec![input]),
        (format!("cut at {cuts:?}"), split_at_points(input, cuts)),
        ("byte by byte".to_owned(), input.chunks(1).collect()),
        (format!("chunks of {size}"), input.chunks(size).collect()),
    ]
}

// ---------------------------------------------------------------------------------------
// SseDecoder driver
// ---------------------------------------------------------------------------------------

/// What an SseDecoder made of a body: its events, then the error that stopped it, if any.
#[derive(Debug, PartialEq)]
struct Decoded {
    events: Vec<SseEvent>,
    error: Option<(ErrorKind, String)>,
}

/// Feed `chunks` to a fresh decoder as a network would, checking the buffer bound on the way.
fn decode_sse(chunks: &[&[u8]], max_line: usize) -> Decoded {
    let mut decoder = SseDecoder::with_max_line(max_line);
    let mut events = Vec::new();
    let stop = |events, error: Error| Decoded {
        events,
        error: Some((error.kind(), error.message().to_owned())),
    };
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(error) => return stop(events, error),
            }
        }
        // Only one incomplete line is ever kept (plus a CR that may be half of a CRLF).
        assert!(
            decoder.buffered() <= max_line + 1,
            "{} bytes buffered with max_line {max_line}",
            decoder.buffered()
        );
    }
    loop {
        match decoder.finish() {
            Ok(Some(event)) => events.push(event),
            Ok(None) => break,
            Err(error) => return stop(events, error),
        }
    }
    assert_eq!(decoder.buffered(), 0, "finish left bytes behind");
    Decoded {
        events,
        error: None,
    }
}

// ---------------------------------------------------------------------------------------
// SseStream driver
// ---------------------------------------------------------------------------------------

/// One item of an `SseStream<ChatChunk>`, in a comparable form.
#[derive(Debug, PartialEq)]
enum Item {
    Chunk(Value),
    Error(ErrorKind, String),
}

/// Run an `SseStream<ChatChunk>` over a body that delivers `chunks`, polling with a no-op
/// waker: the body is always ready, so the stream must never answer `Pending`.
fn run_stream(chunks: &[&[u8]], max_line: usize) -> Vec<Item> {
    let owned: Vec<Bytes> = chunks.iter().map(|c| Bytes::copy_from_slice(c)).collect();
    let body = Body::from_stream(futures_util::stream::iter(owned.into_iter().map(Ok)));
    let mut stream = SseStream::<ChatChunk>::new(body, ResponseMetadata::default(), max_line);
    let mut cx = Context::from_waker(Waker::noop());
    let mut items = Vec::new();
    loop {
        match stream.poll_next_unpin(&mut cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                items.push(Item::Chunk(serde_json::to_value(&chunk).unwrap()));
            }
            Poll::Ready(Some(Err(error))) => {
                items.push(Item::Error(error.kind(), error.message().to_owned()));
            }
            Poll::Ready(None) => break,
            Poll::Pending => panic!("SseStream returned Pending over an always-ready body"),
        }
    }
    // The stream stays ended.
    assert!(matches!(stream.poll_next_unpin(&mut cx), Poll::Ready(None)));
    items
}

// ---------------------------------------------------------------------------------------
// Strategies: raw bytes
// ---------------------------------------------------------------------------------------

/// Bytes that look a bit like SSE: lines made of a field name, a payload (JSON frames,
/// `[DONE]`, partial and invalid UTF-8, long runs to cross a small `max_line`) and a line
/// end of any kind, with raw noise in between.
fn sse_soup() -> impl Strategy<Value = Vec<u8>> {
    let prefix = prop::sample::select(vec![
        "data:",
        "data: ",
        "data",
        "event: ",
        "event: error",
        ":",
        ": keep-alive",
        "id: 1",
        "retry: 10",
        "",
        "dat",
        "data :",
    ]);
    let payload = prop_oneof![
        Just(b"[DONE]".to_vec()),
        Just(b" [DONE] ".to_vec()),
        Just(br#"{"choices":[{"index":0,"delta":{"content":"h\u00e9"}}]}"#.to_vec()),
        Just(br#"{"choices":null,"usage":{"total_tokens":3}}"#.to_vec()),
        Just(br#"{"error":{"message":"boom","code":"429"}}"#.to_vec()),
        Just(br#"{"error":"RateLimitError"}"#.to_vec()),
        Just(br#"{"choices":[{"#.to_vec()),
        Just("é😀".as_bytes().to_vec()),
        Just(vec![0xF0, 0x9F]),
        Just(vec![0x98, 0x80]),
        Just(vec![0xFF, 0xFE]),
        Just(vec![0]),
        prop::collection::vec(any::<u8>(), 0..8),
        (1usize..96).prop_map(|n| vec![b'x'; n]),
    ];
    let end = prop::sample::select(vec!["\n", "\n\n", "\r", "\r\n", "\r\n\r\n", "\r\r", ""]);
    let line =
        (prefix, prop::collection::vec(payload, 0..3), end).prop_map(|(prefix, payload, end)| {
            [prefix.as_bytes(), &payload.concat(), end.as_bytes()].concat()
        });
    let piece = prop_oneof![8 => line, 1 => prop::collection::vec(any::<u8>(), 0..16)];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// A chat stream body with faults: mostly well-formed events (LF, CRLF or CR), then
/// keep-alives, `[DONE]`, in-band errors, broken lines and raw noise.
fn stream_soup() -> impl Strategy<Value = Vec<u8>> {
    let end = prop::sample::select(vec!["\n\n", "\r\n\r\n", "\r\r", "\n"]);
    let event =
        (chunk_frame(), end).prop_map(|(frame, end)| format!("data: {frame}{end}").into_bytes());
    let fixed = prop::sample::select(vec![
        ": keep-alive\n\n",
        "data: [DONE]\n\n",
        "data: [DONE]",
        "event: error\ndata: {\"error\":{\"message\":\"boom\",\"code\":\"503\"}}\n\n",
        "data: {\"error\":{\"message\":\"ContextWindowExceededError\"}}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":1}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"\\ud800\"}}]}\n\n",
        "data: \n\n",
        "\n\n",
    ])
    .prop_map(|text| text.as_bytes().to_vec());
    let piece = prop_oneof![
        6 => event,
        2 => fixed,
        1 => sse_soup(),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// Arbitrary bytes or SSE-flavoured soup.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![1 => prop::collection::vec(any::<u8>(), 0..512), 3 => sse_soup()]
}

/// A small line cap (so long lines hit it), or the default.
fn max_line() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 1usize..64, 1 => 64usize..512, 2 => Just(DEFAULT_MAX_LINE)]
}

// ---------------------------------------------------------------------------------------
// Strategies: valid SSE documents
// ---------------------------------------------------------------------------------------

/// One SSE event as written: comments first, then an optional `event:`, then data lines.
#[derive(Debug, Clone)]
struct Block {
    comments: Vec<String>,
    event: Option<String>,
    with_id: bool,
    /// Each data line, and whether to write it as `data:x` (no space) where that is exact.
    data: Vec<(String, bool)>,
}

fn block() -> impl Strategy<Value = Block> {
    (
        prop::collection::vec("[^\r\n]{0,12}", 0..3),
        prop::option::of("[a-z_é😀: ]{0,8}"),
        any::<bool>(),
        prop::collection::vec(
            ("[a-zA-Z0-9 :{}\\[\\]\",é😀ñ中\t]{0,24}", any::<bool>()),
            0..4,
        ),
    )
        .prop_map(|(comments, event, with_id, data)| Block {
            comments,
            event,
            with_id,
            data,
        })
}

/// A valid SSE document and the events it must decode to.
#[derive(Debug, Clone)]
struct Document {
    bytes: Vec<u8>,
    expected: Vec<SseEvent>,
}

/// Serialise blocks with the given line endings (0 = LF, 1 = CRLF, 2 = CR, cycled).
/// `tail`: 0 = complete, 1 = no blank line after the last event, 2 = not even a line end.
fn document(blocks: &[Block], endings: &[u8], tail: u8) -> Document {
    let mut lines: Vec<String> = Vec::new();
    let mut expected = Vec::new();
    for block in blocks {
        lines.extend(block.comments.iter().map(|c| format!(":{c}")));
        if let Some(event) = &block.event {
            lines.push(format!("event: {event}"));
        }
        if block.with_id {
            lines.push("id: 42".to_owned());
        }
        for (data, no_space) in &block.data {
            lines.push(match (data.is_empty(), *no_space) {
                (true, true) => "data".to_owned(),
                (false, true) if !data.starts_with(' ') => format!("data:{data}"),
                _ => format!("data: {data}"),
            });
        }
        lines.push(String::new());
        if !block.data.is_empty() {
            let data: Vec<&str> = block.data.iter().map(|(d, _)| d.as_str()).collect();
            expected.push(SseEvent::new(
                block.event.clone(),
                Bytes::from(data.join("\n")),
            ));
        }
    }
    let mut drop_last_ending = false;
    if tail >= 1 && !lines.is_empty() {
        lines.pop(); // the final blank line: finish() must dispatch the event
        drop_last_ending = tail == 2 && !lines.is_empty();
    }
    let mut bytes = Vec::new();
    let mut previous = "";
    for (i, line) in lines.iter().enumerate() {
        bytes.extend_from_slice(line.as_bytes());
        if drop_last_ending && i + 1 == lines.len() {
            break;
        }
        let mut ending = match endings[i % endings.len()] {
            0 => "\n",
            1 => "\r\n",
            _ => "\r",
        };
        // A CR then an empty line ended by LF would read as one CRLF: not what we mean.
        if previous == "\r" && line.is_empty() && ending == "\n" {
            ending = "\r\n";
        }
        bytes.extend_from_slice(ending.as_bytes());
        previous = ending;
    }
    Document { bytes, expected }
}

fn sse_document() -> impl Strategy<Value = Document> {
    (
        prop::collection::vec(block(), 0..8),
        prop::collection::vec(0u8..3, 1..16),
        0u8..3,
    )
        .prop_map(|(blocks, endings, tail)| document(&blocks, &endings, tail))
}

// ---------------------------------------------------------------------------------------
// Strategies: valid chat streams
// ---------------------------------------------------------------------------------------

/// One valid chat chunk frame (content with multi-byte UTF-8, finish reasons, usage).
fn chunk_frame() -> impl Strategy<Value = Value> {
    (
        prop::option::of("[a-z0-9-]{1,12}"),
        0u32..3,
        prop::option::of("[a-zA-Z0-9 .,!?é😀中\n\"\\\\]{0,32}"),
        prop::option::of(prop_oneof![
            Just("stop"),
            Just("length"),
            Just("tool_calls"),
            Just(""),
            Just("eos_token")
        ]),
        prop::option::of((0u64..1_000_000, 0u64..1_000_000)),
        any::<bool>(),
    )
        .prop_map(|(id, index, content, finish, usage, role)| {
            let mut delta = Map::new();
            if role {
                delta.insert("role".into(), json!("assistant"));
            }
            if let Some(content) = content {
                delta.insert("content".into(), json!(content));
            }
            let mut frame = json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": 1_700_000_000u64,
                "model": "gpt-4o",
                "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
            });
            if let Some((prompt, completion)) = usage {
                frame["usage"] = json!({
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                });
            }
            frame
        })
}

/// A whole chat stream body: frames (some pretty-printed over several `data:` lines, some
/// after keep-alive comments, CRLF or LF), then `[DONE]`; and the frames it must yield.
fn chat_stream_body() -> impl Strategy<Value = (Vec<u8>, Vec<Value>)> {
    prop::collection::vec(
        (chunk_frame(), any::<bool>(), any::<bool>(), any::<bool>()),
        0..8,
    )
    .prop_map(|frames| {
        let mut body = String::new();
        let mut expected = Vec::new();
        for (frame, pretty, keep_alive, crlf) in frames {
            let eol = if crlf { "\r\n" } else { "\n" };
            if keep_alive {
                body.push_str(&format!(": keep-alive{eol}{eol}"));
            }
            let text = if pretty {
                serde_json::to_string_pretty(&frame).unwrap()
            } else {
                serde_json::to_string(&frame).unwrap()
            };
            for line in text.lines() {
                body.push_str(&format!("data: {line}{eol}"));
            }
            body.push_str(eol);
            let chunk: ChatChunk = serde_json::from_value(frame).unwrap();
            expected.push(serde_json::to_value(&chunk).unwrap());
        }
        body.push_str("data: [DONE]\n\n");
        (body.into_bytes(), expected)
    })
}

/// What may come before the body proper: nothing, a UTF-8 byte order mark, blank lines.
fn body_start() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![&b""[..], BOM, b"\r\n", b" \n\t", b"\xEF\xBB\xBF\n"])
        .prop_map(<[u8]>::to_vec)
}

/// A JSON object answered where a stream was asked for: an error envelope (whole or
/// pretty-printed, with a message sometimes longer than a small line cap), or any object.
fn json_answer() -> impl Strategy<Value = (Vec<u8>, Option<String>)> {
    let message = prop_oneof![
        "[a-zA-Z0-9 é.:=]{1,40}",
        (1usize..3000).prop_map(|n| "m".repeat(n)),
    ];
    let envelope = (message, any::<bool>(), 400u16..600).prop_map(|(message, pretty, code)| {
        let value = json!({"error": {"message": message, "type": "t", "code": code.to_string()}});
        let text = if pretty {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            value.to_string()
        };
        (text.into_bytes(), Some(message))
    });
    let other = shaped_json()
        .prop_filter("an object", |text| text.starts_with('{'))
        .prop_map(|text| (text.into_bytes(), None));
    (body_start(), prop_oneof![2 => envelope, 1 => other])
        .prop_map(|(start, (json, message))| ([start, json].concat(), message))
}

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

// ---------------------------------------------------------------------------------------
// Strategies: hostile JSON
// ---------------------------------------------------------------------------------------

/// Keys the decoders look at, so random values land in typed fields too.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "id", "object", "created", "model", "choices", "usage", "index", "message", "delta",
            "content", "role", "tool_calls", "function", "name", "arguments", "finish_reason",
            "logprobs", "prompt_tokens", "completion_tokens", "total_tokens", "error", "detail",
            "type", "param", "code", "refusal", "reasoning_content", "system_fingerprint",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_é]{0,8}",
    ]
}

fn nested(depth: usize, object: bool) -> String {
    if object {
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
    } else {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }
}

/// Scalars at and past every limit, huge strings, deep nesting, and now and then a broken
/// token.
fn json_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "null", "true", "false", "0", "-0", "-0.0", "1e999", "-1e999", "1e-999",
            "18446744073709551615", "18446744073709551616", "-9223372036854775808",
            "-9223372036854775809", "340282366920938463463374607431768211456",
            "1.7976931348623157e308", "4294967295", "4294967296", "-1", "0.5", "\"\"",
            "\"None\"", "\"stop\"", "\"assistant\"", "\"\\ud800\"", "\"\\udfff\\ud800\"",
            "\"\\u0000\"", "\"é😀\"", "[]", "{}",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec![
            "01", "1.", ".5", "NaN", "Infinity", "\"unterminated", "{", "]", "[1,]",
            "{\"a\"}", "{\"a\":1,}", "\"\\x\"", "\u{feff}1",
        ])
        .prop_map(str::to_owned),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        2 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        2 => "[a-zA-Z é😀\\\\\"\n]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        1 => (0usize..70_000).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
        1 => (0usize..=200, any::<bool>()).prop_map(|(depth, object)| nested(depth, object)),
    ]
}

/// JSON-ish text: mostly valid structure around hostile leaves.
fn json_text() -> impl Strategy<Value = String> {
    json_leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((json_key(), inner), 0..6).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// A JSON string as a server may send it (sometimes huge, `null`, `"None"` or NUL).
fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 é😀\\\\\"\n]{0,16}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        1 => (0usize..70_000).prop_map(|n| format!("\"{}\"", "y".repeat(n))),
        1 => prop::sample::select(vec!["\"\"", "null", "\"None\"", "\"\\u0000\"", "\"\\ud83d\\ude00\""])
            .prop_map(str::to_owned),
    ]
}

/// A JSON count as a server may send it, at and past the integer limits.
fn json_count() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<u32>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "0", "null", "-0", "-1", "4294967296", "18446744073709551615",
            "18446744073709551616", "1e2", "1.0", "1e999",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A slot of `shaped_json`: mostly the type it expects, now and then anything.
fn slot(typed: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    prop_oneof![4 => typed, 1 => json_text()].boxed()
}

/// A chat-response-shaped object with hostile values in every typed slot.
fn shaped_json() -> impl Strategy<Value = String> {
    let slots = vec![
        slot(json_string()), // id
        slot(json_count()),  // created
        slot(json_count()),  // choices[0].index
        slot(json_string()), // role
        slot(json_string()), // content
        slot(json_count()),  // tool_calls[0].index
        slot(json_string()), // function.name
        slot(json_string()), // function.arguments
        slot(json_text()),   // delta (typed in a chunk, unknown in a response)
        slot(json_string()), // finish_reason
        slot(json_count()),  // usage.prompt_tokens
        slot(json_text()),   // error
        slot(json_text()),   // detail
    ];
    slots.prop_map(|v| {
        format!(
            r#"{{"id":{},"created":{},"choices":[{{"index":{},"message":{{"role":{},"content":{},"tool_calls":[{{"index":{},"function":{{"name":{},"arguments":{}}}}}]}},"delta":{},"finish_reason":{}}}],"usage":{{"prompt_tokens":{}}},"error":{},"detail":{}}}"#,
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]
        )
    })
}

/// Anything a server might send as a JSON body.
fn hostile_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        2 => json_text().prop_map(String::into_bytes),
        2 => shaped_json().prop_map(String::into_bytes),
    ]
}

/// An arbitrary JSON value (finite numbers only: JSON has no others).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[^\u{0}]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,6}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Unknown keys (none of `known`) with arbitrary values.
fn unknown_fields(
    known: &'static [&'static str],
) -> impl Strategy<Value = BTreeMap<String, Value>> {
    prop::collection::btree_map(
        "[a-z_]{1,10}".prop_filter("unknown key", move |k| !known.contains(&k.as_str())),
        json_value(),
        0..5,
    )
}

const RESPONSE_KEYS: &[&str] = &[
    "id",
    "object",
    "created",
    "model",
    "choices",
    "usage",
    "system_fingerprint",
];
const CHOICE_KEYS: &[&str] = &["index", "message", "finish_reason", "logprobs"];
const MESSAGE_KEYS: &[&str] = &[
    "role",
    "content",
    "tool_calls",
    "refusal",
    "reasoning_content",
];
const USAGE_KEYS: &[&str] = &[
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
];

/// A valid chat response as JSON.
fn response_json() -> impl Strategy<Value = Value> {
    (
        prop::option::of("[a-z0-9-]{1,12}"),
        prop::collection::vec(
            (
                prop::option::of("[a-zA-Z é😀\n]{0,24}"),
                prop::option::of(prop_oneof![
                    Just("stop"),
                    Just("length"),
                    Just(""),
                    Just("x")
                ]),
                prop::option::of(prop_oneof![Just("assistant"), Just("critic")]),
            ),
            0..3,
        ),
        prop::option::of((any::<u32>(), any::<u32>())),
    )
        .prop_map(|(id, choices, usage)| {
            let choices: Vec<Value> = choices
                .into_iter()
                .enumerate()
                .map(|(index, (content, finish, role))| {
                    json!({
                        "index": index,
                        "message": {"role": role, "content": content},
                        "finish_reason": finish,
                    })
                })
                .collect();
            let mut response = json!({
                "id": id,
                "object": "chat.completion",
                "created": 1_700_000_000u64,
                "model": "gpt-4o",
                "choices": choices,
            });
            if let Some((prompt, completion)) = usage {
                let (prompt, completion) = (u64::from(prompt), u64::from(completion));
                response["usage"] = json!({
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                });
            }
            response
        })
}

/// Insert `fields` into the object `target`.
fn add_fields(target: &mut Value, fields: &BTreeMap<String, Value>) {
    let object = target.as_object_mut().unwrap();
    for (key, value) in fields {
        object.insert(key.clone(), value.clone());
    }
}

/// `fields` as the decoders will see them after a trip through JSON text.
fn reparsed(fields: &BTreeMap<String, Value>) -> Map<String, Value> {
    serde_json::from_str(&serde_json::to_string(fields).unwrap()).unwrap()
}

/// Error kinds that an HTTP answer or an in-band frame can never become.
fn never_from_server(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Decode | ErrorKind::Config | ErrorKind::UnknownProvider | ErrorKind::Unsupported
    )
}

proptest! {
    #![proptest_config(config())]

    // -----------------------------------------------------------------------------------
    // SseDecoder
    // -----------------------------------------------------------------------------------

    /// Random bytes, split anywhere: no panic, only `Decode` errors, bounded buffer, and the
    /// same events (and the same error) however the bytes were split.
    #[test]
    fn sse_decoder_random_bytes(
        input in wire_bytes(),
        max_line in max_line(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        size in 1usize..9,
    ) {
        let whole = decode_sse(&[&input], max_line);
        if let Some((kind, _)) = &whole.error {
            prop_assert_eq!(*kind, ErrorKind::Decode);
        }
        if input.len() <= max_line {
            prop_assert!(whole.error.is_none(), "no line can exceed the cap: {:?}", whole.error);
        }
        for (how, chunks) in splits(&input, &cuts, size) {
            let decoded = decode_sse(&chunks, max_line);
            prop_assert_eq!(&decoded, &whole, "{}", how);
        }
    }

    /// Valid SSE (comments, `event:`, `id:`, multi-line data, LF / CRLF / CR, multi-byte
    /// UTF-8, with or without the final blank line) decodes to exactly its events, however
    /// it is split (including inside a multi-byte character).
    #[test]
    fn sse_decoder_valid_input_split_anywhere(
        doc in sse_document(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        size in 1usize..9,
    ) {
        for (how, chunks) in splits(&doc.bytes, &cuts, size) {
            let decoded = decode_sse(&chunks, DEFAULT_MAX_LINE);
            prop_assert_eq!(decoded.error, None, "{}", how);
            prop_assert_eq!(&decoded.events, &doc.expected, "{}", how);
        }
    }

    /// A byte order mark at the start of a body is dropped, split anywhere: the body
    /// decodes to what it would without it (the same events, the same error).
    #[test]
    fn sse_decoder_drops_a_leading_byte_order_mark(
        input in wire_bytes().prop_filter("no mark of its own", |input| !input.starts_with(BOM)),
        max_line in max_line(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        size in 1usize..9,
    ) {
        let without = decode_sse(&[&input], max_line);
        let with = [BOM, &input].concat();
        for (how, chunks) in splits(&with, &cuts, size) {
            prop_assert_eq!(&decode_sse(&chunks, max_line), &without, "{}", how);
        }
    }

    /// Valid SSE after a byte order mark decodes to exactly its events.
    #[test]
    fn sse_decoder_valid_input_after_a_byte_order_mark(
        doc in sse_document(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        size in 1usize..9,
    ) {
        let with = [BOM, &doc.bytes].concat();
        for (how, chunks) in splits(&with, &cuts, size) {
            let decoded = decode_sse(&chunks, DEFAULT_MAX_LINE);
            prop_assert_eq!(decoded.error, None, "{}", how);
            prop_assert_eq!(&decoded.events, &doc.expected, "{}", how);
        }
    }

    // -----------------------------------------------------------------------------------
    // SseStream<ChatChunk>
    // -----------------------------------------------------------------------------------

    /// A body that is one JSON object instead of events is one error item, the same
    /// however the body is split and whatever the line cap: the envelope's own message
    /// when it is an error envelope, else a `Decode` error saying JSON came instead.
    #[test]
    fn sse_stream_json_instead_of_events(
        (body, message) in json_answer(),
        max_line in max_line(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        size in 1usize..9,
    ) {
        let whole = run_stream(&[&body], max_line);
        prop_assert_eq!(whole.len(), 1, "{:?}", whole);
        match (&whole[0], message) {
            (Item::Error(kind, said), Some(message)) => {
                prop_assert!(!never_from_server(*kind), "kind {:?}", kind);
                prop_assert_eq!(said, &message);
            }
            (Item::Error(kind, said), None) => {
                if *kind == ErrorKind::Decode {
                    prop_assert!(said.starts_with("the server answered JSON instead"), "{}", said);
                }
            }
            (item, _) => prop_assert!(false, "not an error: {:?}", item),
        }
        for (how, chunks) in splits(&body, &cuts, size).into_iter().skip(1) {
            prop_assert_eq!(&run_stream(&chunks, max_line), &whole, "{}", how);
        }
    }

    /// A valid chat stream yields exactly its frames and then ends cleanly, however the
    /// body is split.
    #[test]
    fn sse_stream_valid_chat_split_anywhere(
        (body, expected) in chat_stream_body(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        size in 1usize..9,
    ) {
        let expected: Vec<Item> = expected.into_iter().map(Item::Chunk).collect();
        for (how, chunks) in splits(&body, &cuts, size) {
            prop_assert_eq!(&run_stream(&chunks, DEFAULT_MAX_LINE), &expected, "{}", how);
        }
    }

    /// Random bodies: no panic; at most one error and it ends the stream; an error-free
    /// stream saw `[DONE]`; the same items however the body is split.
    #[test]
    fn sse_stream_random_bytes(
        input in prop_oneof![
            3 => wire_bytes(),
            3 => stream_soup(),
            1 => (body_start(), stream_soup()).prop_map(|(start, soup)| [start, soup].concat()),
            1 => json_answer().prop_map(|(body, _)| body),
        ],
        max_line in max_line(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        size in 1usize..9,
    ) {
        let whole = run_stream(&[&input], max_line);
        let errors: Vec<usize> = whole
            .iter()
            .enumerate()
            .filter_map(|(i, item)| matches!(item, Item::Error(..)).then_some(i))
            .collect();
        prop_assert!(errors.len() <= 1, "several errors: {:?}", whole);
        if let Some(&at) = errors.first() {
            prop_assert_eq!(at, whole.len() - 1, "items after an error: {:?}", whole);
            if let Item::Error(kind, _) = &whole[at] {
                prop_assert!(
                    !matches!(kind, ErrorKind::Config | ErrorKind::UnknownProvider | ErrorKind::Unsupported),
                    "unexpected kind {:?}", kind
                );
            }
        } else {
            let saw_done = input.windows(6).any(|w| w == b"[DONE]");
            prop_assert!(saw_done, "a stream without [DONE] ended without an error: {:?}", whole);
        }
        for (how, chunks) in splits(&input, &cuts, size).into_iter().skip(1) {
            prop_assert_eq!(&run_stream(&chunks, max_line), &whole, "{}", how);
        }
    }

    // -----------------------------------------------------------------------------------
    // JSON response decoders and error envelopes
    // -----------------------------------------------------------------------------------

    /// Random bytes and hostile JSON never panic any response decoder; `decode_json` fails
    /// exactly when serde does, and only with `Decode`.
    #[test]
    fn json_decoders_never_panic(body in hostile_body()) {
        let plain = serde_json::from_slice::<ChatResponse>(&body);
        let _ = serde_json::from_slice::<ChatChunk>(&body);
        match decode_json::<ChatResponse>(&body, None) {
            Ok(response) => {
                prop_assert!(plain.is_ok());
                prop_assert_eq!(
                    serde_json::to_value(&response).unwrap(),
                    serde_json::to_value(plain.unwrap()).unwrap()
                );
            }
            Err(error) => {
                prop_assert_eq!(error.kind(), ErrorKind::Decode);
                prop_assert!(body.is_empty() || plain.is_err());
            }
        }
    }

    /// Error envelopes from any status and any body: no panic, the status and a bounded
    /// copy of the body are kept, the message is never empty, and the kind is an API kind.
    #[test]
    fn error_from_response_never_panics(status in 100u16..=599, body in hostile_body()) {
        let status = StatusCode::from_u16(status).unwrap();
        let error = Error::from_response(status, &HeaderMap::new(), &body);
        prop_assert_eq!(error.status(), Some(status));
        prop_assert!(!error.message().is_empty());
        prop_assert!(!never_from_server(error.kind()), "kind {:?}", error.kind());
        let kept = error.body().unwrap();
        prop_assert!(kept.len() <= MAX_ERROR_BODY * 3 + 64, "body of {} bytes kept", kept.len());
        let details = ApiErrorDetails::parse(&body);
        if let Some(message) = details.message {
            prop_assert_eq!(error.message(), message.as_str());
        }
    }

    /// In-band stream error frames: no panic, no status, a bounded body, an API kind.
    #[test]
    fn error_from_stream_frame_never_panics(frame in hostile_body()) {
        let error = Error::from_stream_frame(&frame);
        prop_assert_eq!(error.status(), None);
        prop_assert!(!never_from_server(error.kind()), "kind {:?}", error.kind());
        let kept = error.body().unwrap();
        prop_assert!(kept.len() <= MAX_ERROR_BODY * 3 + 64, "body of {} bytes kept", kept.len());
    }

    /// A well-formed envelope's fields come back as text, with `null`, `""` and `"None"`
    /// as absent and numbers as their JSON text.
    #[test]
    fn error_envelope_fields_round_trip(
        message in prop_oneof![Just(json!(null)), Just(json!("None")), Just(json!("")), "[^\u{0}]{1,24}".prop_map(Value::from)],
        error_type in prop_oneof![Just(json!(null)), "[a-z_]{1,12}".prop_map(Value::from)],
        code in prop_oneof![Just(json!(null)), (100u16..600).prop_map(Value::from), "[0-9a-z_]{1,6}".prop_map(Value::from)],
    ) {
        let as_text = |value: &Value| match value {
            Value::Null => None,
            Value::String(text) if text.is_empty() || text == "None" => None,
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        };
        let body = json!({"error": {"message": message, "type": error_type, "code": code}});
        let details = ApiErrorDetails::parse(body.to_string().as_bytes());
        prop_assert_eq!(details.message, as_text(&message));
        prop_assert_eq!(details.error_type, as_text(&error_type));
        prop_assert_eq!(details.code, as_text(&code));
        prop_assert_eq!(details.param, None);
        let detail = json!({"detail": message});
        prop_assert_eq!(ApiErrorDetails::parse(detail.to_string().as_bytes()).message, as_text(&message));
    }

    /// Nesting past serde_json's recursion limit (128) is an error, never a stack
    /// overflow, wherever it sits (top level, a typed field, a flattened `extra`).
    #[test]
    fn deep_nesting_is_an_error_not_a_crash(depth in 0usize..=200, object in any::<bool>(), slot in 0usize..4) {
        let deep = nested(depth, object);
        let (body, outer) = match slot {
            0 => (deep.clone(), 0),
            1 => (format!(r#"{{"unknown":{deep}}}"#), 1),
            2 => (format!(r#"{{"choices":[{{"message":{{"unknown":{deep}}}}}]}}"#), 4),
            _ => (format!(r#"{{"error":{{"message":{deep}}},"detail":{deep}}}"#), 2),
        };
        let total = depth + outer;
        let response = serde_json::from_slice::<ChatResponse>(body.as_bytes());
        let chunk = serde_json::from_slice::<ChatChunk>(body.as_bytes());
        let decoded = decode_json::<ChatResponse>(body.as_bytes(), None);
        let error = Error::from_response(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes());
        let frame = Error::from_stream_frame(body.as_bytes());
        prop_assert!(error.status().is_some());
        prop_assert!(frame.status().is_none());
        if total > 130 {
            prop_assert!(response.is_err());
            prop_assert!(chunk.is_err());
            prop_assert_eq!(decoded.err().map(|e| e.kind()), Some(ErrorKind::Decode));
        } else if total < 120 && slot != 0 {
            prop_assert!(response.is_ok(), "{:?}", response.err());
            prop_assert!(chunk.is_ok(), "{:?}", chunk.err());
            prop_assert!(decoded.is_ok());
        }
    }

    /// Lenient decoding: unknown keys at every level change nothing in the known fields
    /// and are kept, equal, in the matching `extra`.
    #[test]
    fn unknown_keys_are_kept_and_change_nothing(
        response in response_json(),
        top in unknown_fields(RESPONSE_KEYS),
        choice in unknown_fields(CHOICE_KEYS),
        message in unknown_fields(MESSAGE_KEYS),
        usage in unknown_fields(USAGE_KEYS),
    ) {
        let base: ChatResponse = serde_json::from_value(response.clone()).unwrap();
        let mut noisy = response;
        add_fields(&mut noisy, &top);
        let has_choice = !base.choices.is_empty();
        if has_choice {
            add_fields(&mut noisy["choices"][0], &choice);
            add_fields(&mut noisy["choices"][0]["message"], &message);
        }
        if base.usage.is_some() {
            add_fields(&mut noisy["usage"], &usage);
        }
        let text = serde_json::to_vec(&noisy).unwrap();
        let decoded: ChatResponse = decode_json(&text, None).unwrap();

        prop_assert_eq!(&decoded.id, &base.id);
        prop_assert_eq!(&decoded.model, &base.model);
        prop_assert_eq!(decoded.created, base.created);
        prop_assert_eq!(&decoded.extra, &reparsed(&top));
        prop_assert_eq!(decoded.choices.len(), base.choices.len());
        for (i, (got, want)) in decoded.choices.iter().zip(&base.choices).enumerate() {
            prop_assert_eq!(got.index, want.index);
            prop_assert_eq!(&got.finish_reason, &want.finish_reason);
            prop_assert_eq!(&got.logprobs, &want.logprobs);
            let mut message_known = got.message.clone();
            message_known.extra = Map::new();
            prop_assert_eq!(&message_known, &want.message);
            let (choice_extra, message_extra) = if i == 0 {
                (reparsed(&choice), reparsed(&message))
            } else {
                (Map::new(), Map::new())
            };
            prop_assert_eq!(&got.extra, &choice_extra);
            prop_assert_eq!(&got.message.extra, &message_extra);
        }
        match (&decoded.usage, &base.usage) {
            (Some(got), Some(want)) => {
                let mut known = got.clone();
                known.extra = Map::new();
                prop_assert_eq!(&known, want);
                prop_assert_eq!(&got.extra, &reparsed(&usage));
            }
            (got, want) => prop_assert_eq!(got, want),
        }
    }
}
