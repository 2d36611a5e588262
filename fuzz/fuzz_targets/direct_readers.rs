//! The direct readers against serde alone, on the same bytes:
//! - a stream frame through `ChunkStrings::decode` (the direct reader, then serde when it
//!   declines) and through `ChatChunk`'s `Deserialize`;
//! - a chat answer through `ChatResponse::read_direct` and through serde.
//!
//! Both must accept the same input and give the same value (compared by `Debug`); the
//! answer reader may decline (`None`) but never accept what serde rejects.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mishika_core::WithMetadata;
use mishika_core::chat::{ChatChunk, ChatResponse, ChunkStrings};

fuzz_target!(|data: &[u8]| {
    let streamed = ChunkStrings::default()
        .decode(data)
        .map(|chunk| format!("{chunk:?}"));
    let by_serde = serde_json::from_slice::<ChatChunk>(data).map(|chunk| format!("{chunk:?}"));
    match (streamed, by_serde) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "chunk decoded differently"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("one path accepted the frame: streamed {a:?}, serde {b:?}"),
    }

    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(direct) = ChatResponse::read_direct(text) {
            let by_serde = serde_json::from_str::<ChatResponse>(text)
                .map(|answer| format!("{answer:?}"))
                .expect("the answer reader accepted what serde rejects");
            assert_eq!(format!("{direct:?}"), by_serde, "answer decoded differently");
        }
    }
});
