//! What the core promises and other code relies on: errors always say something and keep
//! their cause, the gateway's simpler error shapes keep their message, and the caps (the
//! SSE line, the error body) stay where the documentation puts them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as _;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use mishika_core::error::{MAX_ERROR_BODY, truncated_text};
use mishika_core::sse::{DEFAULT_MAX_LINE, SseDecoder};
use mishika_core::{
    Body, Error, ErrorKind, ErrorRules, Limits, TransportError, TransportErrorKind,
};
use proptest::prelude::*;

const KINDS: [ErrorKind; 21] = [
    ErrorKind::BadRequest,
    ErrorKind::Authentication,
    ErrorKind::PermissionDenied,
    ErrorKind::NotFound,
    ErrorKind::Timeout,
    ErrorKind::UnprocessableEntity,
    ErrorKind::RateLimit,
    ErrorKind::ContextWindowExceeded,
    ErrorKind::ContentPolicyViolation,
    ErrorKind::BudgetExceeded,
    ErrorKind::InternalServer,
    ErrorKind::BadGateway,
    ErrorKind::ServiceUnavailable,
    ErrorKind::ApiStatus,
    ErrorKind::Connection,
    ErrorKind::Decode,
    ErrorKind::Stream,
    ErrorKind::Config,
    ErrorKind::UnknownProvider,
    ErrorKind::Unsupported,
    ErrorKind::Io,
];

#[test]
fn an_error_always_says_something() {
    for kind in KINDS {
        let text = Error::new(kind, "").to_string();
        assert!(!text.trim().is_empty());
        assert!(text.starts_with(kind.as_str()), "{text}");
    }
    for code in [400u16, 401, 404, 418, 429, 500, 503, 599] {
        let status = StatusCode::from_u16(code).unwrap();
        let error = Error::from_response(status, &HeaderMap::new(), b"");
        assert!(!error.message().is_empty(), "{code}");
        assert!(error.to_string().contains(&code.to_string()));
    }
    assert!(!Error::from_stream_frame(b"").to_string().is_empty());
}

proptest! {
    #[test]
    fn no_answer_makes_an_empty_error(code in 100u16..1000, body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let status = StatusCode::from_u16(code).unwrap();
        let error = Error::from_response(status, &HeaderMap::new(), &body);
        prop_assert!(!error.to_string().trim().is_empty());
        prop_assert!(!error.message().is_empty());
        let frame = Error::from_stream_frame(&body);
        prop_assert!(!frame.to_string().trim().is_empty());
    }
}

#[test]
fn the_cause_is_kept_as_the_source() {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
    let error = Error::new(ErrorKind::Connection, "broke").with_source(io);
    let source = error.source().unwrap();
    assert_eq!(source.to_string(), "reset by peer");
    assert_eq!(
        source.downcast_ref::<std::io::Error>().unwrap().kind(),
        std::io::ErrorKind::ConnectionReset
    );
    assert_eq!(
        error.to_string(),
        "APIConnectionError: broke: reset by peer"
    );

    // Through a transport failure, both ways it becomes an Error.
    let failure = || {
        TransportError::new(TransportErrorKind::Io, "the connection broke").with_source(
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "early eof"),
        )
    };
    for error in [failure().into_error(), failure().into_stream_error()] {
        let source = error.source().unwrap();
        assert_eq!(
            source.downcast_ref::<std::io::Error>().unwrap().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
    }
    assert_eq!(failure().into_error().kind(), ErrorKind::Connection);
    assert_eq!(failure().into_stream_error().kind(), ErrorKind::Stream);
    assert_eq!(failure().to_string(), "Io: the connection broke: early eof");
}

#[test]
fn transport_failures_map_to_kinds_that_say_whether_to_retry() {
    let cases = [
        (TransportErrorKind::Connect, ErrorKind::Connection, true),
        (TransportErrorKind::ConnectTimeout, ErrorKind::Timeout, true),
        (TransportErrorKind::Timeout, ErrorKind::Timeout, true),
        (TransportErrorKind::Io, ErrorKind::Connection, true),
        (TransportErrorKind::Protocol, ErrorKind::Decode, false),
        (TransportErrorKind::Other, ErrorKind::Config, false),
    ];
    for (transport, kind, retryable) in cases {
        let error = TransportError::new(transport, "m").into_error();
        assert_eq!(error.kind(), kind, "{transport:?}");
        assert_eq!(error.is_retryable(), retryable, "{transport:?}");
        assert_eq!(error.message(), "m");
    }
}

#[test]
fn the_gateways_simpler_error_shapes_keep_their_message() {
    let cases: [(&[u8], &str); 4] = [
        (br#"{"error": "upstream exploded"}"#, "upstream exploded"),
        (
            br#"{"message": "Internal Server Error"}"#,
            "Internal Server Error",
        ),
        (br#"{"error": {"message": "nested"}}"#, "nested"),
        (br#"{"detail": "Not Found"}"#, "Not Found"),
    ];
    for (body, message) in cases {
        let error =
            Error::from_response(StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new(), body);
        assert_eq!(
            error.message(),
            message,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(error.kind(), ErrorKind::InternalServer);
    }
    let error = Error::from_stream_frame(br#"{"error": "stream went away"}"#);
    assert_eq!(error.message(), "stream went away");
}

#[test]
fn the_sse_line_cap_is_one_mib_by_default() {
    assert_eq!(DEFAULT_MAX_LINE, 1024 * 1024);
    assert_eq!(Limits::default().max_sse_line, 1024 * 1024);
    assert_eq!(Limits::default().max_response_bytes, 64 * 1024 * 1024);
    let prefix = b"data: ";
    for (length, accepted) in [(DEFAULT_MAX_LINE, true), (DEFAULT_MAX_LINE + 1, false)] {
        let mut line = prefix.to_vec();
        line.resize(length, b'x');
        line.extend_from_slice(b"\n\n");
        // In one chunk, and cut in two.
        for split in [line.len(), 1000] {
            let mut decoder = SseDecoder::new();
            decoder.push_bytes(Bytes::copy_from_slice(&line[..split]));
            let mut result = decoder.next_event();
            if split < line.len() && matches!(result, Ok(None)) {
                decoder.push_bytes(Bytes::copy_from_slice(&line[split..]));
                result = decoder.next_event();
            }
            match result {
                Ok(Some(event)) => {
                    assert!(accepted, "{length} bytes accepted");
                    assert_eq!(event.data.len(), length - prefix.len());
                }
                Err(error) => {
                    assert!(!accepted, "{length} bytes refused: {error}");
                    assert_eq!(error.kind(), ErrorKind::Decode);
                    assert_eq!(
                        error.message(),
                        "SSE line exceeds the limit of 1048576 bytes"
                    );
                }
                Ok(None) => panic!("{length} bytes: no event and no error"),
            }
        }
    }
}

#[test]
fn an_error_keeps_at_most_8_kib_of_the_body() {
    assert_eq!(MAX_ERROR_BODY, 8 * 1024);
    let exact = vec![b'a'; MAX_ERROR_BODY];
    let error = Error::from_response(StatusCode::BAD_GATEWAY, &HeaderMap::new(), &exact);
    assert_eq!(error.body().unwrap().len(), MAX_ERROR_BODY);
    let over = vec![b'a'; MAX_ERROR_BODY + 1];
    let error = Error::from_response(StatusCode::BAD_GATEWAY, &HeaderMap::new(), &over);
    assert_eq!(
        error.body().unwrap(),
        format!("{}… (8193 bytes in all)", "a".repeat(MAX_ERROR_BODY))
    );
    assert_eq!(truncated_text(b"abc", 2), "ab… (3 bytes in all)");
    assert_eq!(truncated_text(b"abc", 3), "abc");
}

#[tokio::test]
async fn an_error_answer_is_read_up_to_64_kib() {
    let body = Bytes::from(vec![b'z'; 200 * 1024]);
    let mut response = http::Response::new(Body::from_stream(futures_util::stream::iter([
        Ok(body.slice(..100 * 1024)),
        Ok(body.slice(100 * 1024..)),
    ])));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let error = mishika_core::call::check_status(response, ErrorRules::OPENAI)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
    assert!(
        error.body().unwrap().ends_with("… (65536 bytes in all)"),
        "read 64 KiB, kept 8 KiB"
    );
}

#[test]
fn every_status_maps_to_its_kind() {
    let cases = [
        (400, ErrorKind::BadRequest),
        (401, ErrorKind::Authentication),
        (403, ErrorKind::PermissionDenied),
        (404, ErrorKind::NotFound),
        (408, ErrorKind::Timeout),
        (409, ErrorKind::ApiStatus),
        (418, ErrorKind::ApiStatus),
        (422, ErrorKind::UnprocessableEntity),
        (429, ErrorKind::RateLimit),
        (500, ErrorKind::InternalServer),
        (501, ErrorKind::ApiStatus),
        (502, ErrorKind::BadGateway),
        (503, ErrorKind::ServiceUnavailable),
        (504, ErrorKind::Timeout),
        (302, ErrorKind::ApiStatus),
    ];
    for (code, kind) in cases {
        let status = StatusCode::from_u16(code).unwrap();
        assert_eq!(ErrorKind::from_status(status), kind, "{code}");
        // A body that names no class leaves the status's kind.
        let error =
            Error::from_response(status, &HeaderMap::new(), br#"{"error":{"message":"no"}}"#);
        assert_eq!(error.kind(), kind, "{code}");
        let retryable = matches!(code, 408 | 409 | 429 | 500 | 502 | 503 | 504);
        assert_eq!(error.is_retryable(), retryable, "{code}");
    }
}

#[test]
fn what_an_error_carries_can_be_read_back() {
    let error = Error::timeout(
        mishika_core::TimeoutPhase::StreamIdle,
        std::time::Duration::from_secs(2),
    );
    assert_eq!(
        error.timeout_phase(),
        Some(mishika_core::TimeoutPhase::StreamIdle)
    );
    assert_eq!(error.message(), "stream idle timeout after 2s");
    for (phase, text) in [
        (mishika_core::TimeoutPhase::Connect, "connect"),
        (mishika_core::TimeoutPhase::Request, "request"),
        (mishika_core::TimeoutPhase::StreamIdle, "stream idle"),
        (
            mishika_core::TimeoutPhase::StreamDeadline,
            "stream deadline",
        ),
    ] {
        assert_eq!(phase.to_string(), text);
    }
    let error = Error::unsupported("acme", "rerank");
    assert_eq!(error.provider(), Some("acme"));
    assert_eq!(error.endpoint(), Some("rerank"));
    assert_eq!(
        error.message(),
        "provider `acme` does not support the rerank endpoint"
    );
    let error = Error::new(ErrorKind::Stream, "x").with_provider("p");
    assert_eq!(error.provider(), Some("p"));
    assert_eq!(error.endpoint(), None);
    assert_eq!(error.timeout_phase(), None);
    assert_eq!(
        Error::new(ErrorKind::Stream, "before")
            .with_message("after")
            .message(),
        "after"
    );

    let mut headers = HeaderMap::new();
    headers.insert("retry-after", http::HeaderValue::from_static("3"));
    let error = Error::from_response(
        StatusCode::TOO_MANY_REQUESTS,
        &headers,
        br#"{"error":{"message":"slow","type":"rate_limit","param":"p","code":"c"}}"#,
    )
    .with_provider("proxy")
    .with_source(std::io::Error::other("cause"));
    let debug = format!("{error:?}");
    for part in [
        "kind: RateLimit",
        "message: \"slow\"",
        "status: 429",
        "type: \"rate_limit\"",
        "param: \"p\"",
        "code: \"c\"",
        "retry_after: 3s",
        "provider: \"proxy\"",
        "source: ",
    ] {
        assert!(debug.contains(part), "{part} in {debug}");
    }
}

#[test]
fn fastapi_detail_objects_give_their_message() {
    for (body, message) in [
        (
            &br#"{"detail":{"error":"budget: Budget has been exceeded"}}"#[..],
            "budget: Budget has been exceeded",
        ),
        (br#"{"detail":{"message":"nope"}}"#, "nope"),
        (br#"{"detail":{"other":1}}"#, r#"{"other":1}"#),
        (
            br#"{"detail":[{"loc":["body"],"msg":"field required"}]}"#,
            r#"[{"loc":["body"],"msg":"field required"}]"#,
        ),
    ] {
        let error = Error::from_response(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert_eq!(error.message(), message);
    }
}

#[test]
fn a_retry_after_that_is_no_duration_is_ignored() {
    let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    let wait = |pairs: &[(&'static str, &'static str)]| {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, http::HeaderValue::from_static(value));
        }
        mishika_core::error::retry_after(&headers, now)
    };
    let secs = std::time::Duration::from_secs;
    assert_eq!(
        wait(&[("retry-after-ms", "-5"), ("retry-after", "2")]),
        Some(secs(2))
    );
    assert_eq!(
        wait(&[("retry-after-ms", "inf"), ("retry-after", "2")]),
        Some(secs(2))
    );
    assert_eq!(wait(&[("retry-after-ms", "NaN")]), None);
    assert_eq!(wait(&[("retry-after", "-1")]), None);
    assert_eq!(wait(&[("retry-after", "inf")]), None);
    assert_eq!(wait(&[("retry-after", "1e9")]), Some(secs(86_400)));
    assert_eq!(wait(&[("retry-after-ms", "1e12")]), Some(secs(86_400)));
    assert_eq!(wait(&[("llm_provider-retry-after", "7")]), Some(secs(7)));
    assert_eq!(wait(&[("retry-after", "0")]), Some(secs(0)));
}

#[test]
fn sse_bytes_are_counted_and_released() {
    let mut decoder = SseDecoder::new();
    decoder.push_bytes(Bytes::from_static(b"abc"));
    decoder.push_bytes(Bytes::from_static(b"defgh"));
    assert_eq!(decoder.buffered(), 8);
    decoder.push_bytes(Bytes::from_static(b"\n\n"));
    assert_eq!(decoder.buffered(), 10);

    // Once its events are handed out and dropped, the decoder holds nothing of a chunk, so
    // the transport can reuse its buffer: by the one-search path and line by line.
    for text in [
        &b"data: one\n\n"[..],
        b"event: e\ndata: two\n\n",
        b"data: 3\r\n\r\n",
    ] {
        let chunk = Bytes::from(text.to_vec());
        let mut decoder = SseDecoder::new();
        decoder.push_bytes(chunk.clone());
        let event = decoder.next_event().unwrap().unwrap();
        drop(event);
        // Before any further call: the caller may now wait for the next chunk.
        assert!(chunk.is_unique(), "{}", String::from_utf8_lossy(text));
        assert!(decoder.next_event().unwrap().is_none());
    }
}

#[test]
fn sse_lines_split_across_chunks_are_joined() {
    // A partial line pending, then a chunk that itself starts like an event.
    let mut decoder = SseDecoder::new();
    decoder.push_bytes(Bytes::from_static(b"data: a"));
    assert!(decoder.next_event().unwrap().is_none());
    decoder.push_bytes(Bytes::from_static(b"data: b\n\n"));
    let event = decoder.next_event().unwrap().unwrap();
    assert_eq!(&event.data[..], b"adata: b");
    // A CR that ends the input ends the line.
    let mut decoder = SseDecoder::new();
    decoder.push(b"data: x\r");
    assert!(decoder.next_event().unwrap().is_none());
    let event = decoder.finish().unwrap().unwrap();
    assert_eq!(&event.data[..], b"x");
    // A named event is not taken by the one-line path.
    let mut decoder = SseDecoder::new();
    decoder.push(b"event: ping\n");
    assert!(decoder.next_event().unwrap().is_none());
    decoder.push(b"data: {}\n\n");
    let event = decoder.next_event().unwrap().unwrap();
    assert_eq!(event.event.as_deref(), Some("ping"));
    assert_eq!(&event.data[..], b"{}");
}
