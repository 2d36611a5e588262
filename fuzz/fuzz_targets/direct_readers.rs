//! The direct readers against serde alone, on the same bytes:
//! - a stream frame through `ChunkStrings::decode` (the direct reader, then serde when it
//!   declines) and through `ChatChunk`'s `Deserialize`;
//! - a chat answer through `ChatResponse::read_direct` and through serde;
//! - an embeddings answer through `EmbeddingResponse::read_direct` and through serde.
//!
//! Both must accept the same input and give the same value (compared by `Debug`); the
//! answer readers may decline (`None`) but never accept what serde rejects.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mishika_core::EmbeddingResponse;
use mishika_core::WithMetadata;
use mishika_core::chat::{ChatChunk, ChatResponse};
use mishika_core::decode::ChunkStrings;

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

    agree::<ChatResponse>(data);
    agree::<EmbeddingResponse>(data);
});

/// `T::read_direct` accepts only what serde accepts, and reads it alike.
fn agree<T: WithMetadata + serde::de::DeserializeOwned + std::fmt::Debug>(data: &[u8]) {
    if let Some(direct) = T::read_direct(data) {
        let by_serde = serde_json::from_slice::<T>(data)
            .map(|answer| format!("{answer:?}"))
            .expect("a direct reader accepted what serde rejects");
        assert_eq!(format!("{direct:?}"), by_serde, "decoded differently");
    }
}
