//! Every decoder of a (non-streamed) response body on arbitrary bytes: the typed chat
//! response and chunk, `decode_json`, and the error envelope parsers. None may panic.
//!
//! Input layout: the whole input is the body; its first two bytes also pick the HTTP
//! status (100..=599) for `Error::from_response`.
#![no_main]

use http::{HeaderMap, StatusCode};
use libfuzzer_sys::fuzz_target;
use mishika_core::error::ApiErrorDetails;
use mishika_core::decode::decode_json;
use mishika_core::{ChatChunk, ChatResponse, Error, ErrorKind};

fuzz_target!(|data: &[u8]| {
    let plain = serde_json::from_slice::<ChatResponse>(data);
    let _ = serde_json::from_slice::<ChatChunk>(data);
    match decode_json::<ChatResponse>(data, None) {
        Ok(_) => assert!(plain.is_ok()),
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::Decode);
            assert!(data.is_empty() || plain.is_err());
        }
    }

    let code = match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        [a] => u16::from(*a),
        [] => 0,
    };
    let status = StatusCode::from_u16(100 + code % 500).unwrap_or(StatusCode::BAD_REQUEST);
    let error = Error::from_response(status, &HeaderMap::new(), data);
    assert_eq!(error.status(), Some(status));
    assert!(!error.message().is_empty());

    let frame = Error::from_stream_frame(data);
    assert_eq!(frame.status(), None);
    let _ = ApiErrorDetails::parse(data);
});
