//! Streamed chat chunks as they are decoded: the strings a stream repeats shared by its
//! chunks ([`ChunkStrings`]), and the serde form of a chunk that the direct reader falls
//! back to.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;

use crate::chat::{ChatChunk, ChunkChoice, ChunkHeader, Usage};
use crate::wire::{Key, LenientU64, NullAsDefault};
use serde_json::{Map, Value};

/// A chunk's fields but its header, as read; made a chunk once the header is known (a
/// `ChatChunk::default()` would allocate a header only to drop it).
#[derive(Default)]
pub(crate) struct ChunkParts {
    pub(crate) created: Option<u64>,
    pub(crate) choices: Vec<ChunkChoice>,
    pub(crate) usage: Option<Box<Usage>>,
    pub(crate) extra: Map<String, Value>,
}

impl ChunkParts {
    pub(crate) fn into_chunk(self, header: Arc<ChunkHeader>) -> ChatChunk {
        ChatChunk {
            header,
            created: self.created,
            choices: self.choices,
            usage: self.usage,
            extra: self.extra,
        }
    }
}

/// A chunk's header fields as read, borrowed from the frame where possible.
#[derive(Default)]
pub(crate) struct HeaderText<'a> {
    pub(crate) id: Option<Cow<'a, str>>,
    pub(crate) object: Option<Cow<'a, str>>,
    pub(crate) model: Option<Cow<'a, str>>,
    pub(crate) system_fingerprint: Option<Cow<'a, str>>,
    pub(crate) service_tier: Option<Cow<'a, str>>,
}

impl HeaderText<'_> {
    fn matches(&self, header: &ChunkHeader) -> bool {
        self.id.as_deref() == header.id.as_deref()
            && self.object.as_deref() == header.object.as_deref()
            && self.model.as_deref() == header.model.as_deref()
            && self.system_fingerprint.as_deref() == header.system_fingerprint.as_deref()
            && self.service_tier.as_deref() == header.service_tier.as_deref()
    }
}

/// The header of the last chunk of a stream. Decoding a chunk through
/// [`ChunkStrings::decode`] shares it when the next chunk repeats it (as every chunk of a
/// stream does), so a stream allocates those strings once, and each chunk costs one
/// reference count instead of five.
///
/// Hidden from the docs: a performance internal, public only as the
/// [`StreamFrame::Decoder`](crate::StreamFrame::Decoder) of [`ChatChunk`].
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct ChunkStrings {
    last: Arc<ChunkHeader>,
}

impl ChunkStrings {
    /// The shared header for `text`: the last one when equal, else a new one, kept.
    pub(crate) fn header(&mut self, text: HeaderText<'_>) -> Arc<ChunkHeader> {
        if !text.matches(&self.last) {
            self.last = Arc::new(ChunkHeader {
                id: text.id.map(Cow::into_owned),
                object: text.object.map(Cow::into_owned),
                model: text.model.map(Cow::into_owned),
                system_fingerprint: text.system_fingerprint.map(Cow::into_owned),
                service_tier: text.service_tier.map(Cow::into_owned),
            });
        }
        Arc::clone(&self.last)
    }
}

impl ChunkStrings {
    /// Decode one chunk's JSON, sharing repeated strings with earlier chunks.
    pub fn decode(&mut self, json: &[u8]) -> serde_json::Result<ChatChunk> {
        let Ok(text) = std::str::from_utf8(json) else {
            // Not UTF-8: serde_json reads the bytes (and says where they break).
            return self.decode_with(serde_json::Deserializer::from_slice(json));
        };
        match super::direct::chunk(self, text) {
            Some(chunk) => Ok(chunk),
            None => self.decode_with(serde_json::Deserializer::from_str(text)),
        }
    }

    fn decode_with<'de, R: serde_json::de::Read<'de>>(
        &mut self,
        mut deserializer: serde_json::Deserializer<R>,
    ) -> serde_json::Result<ChatChunk> {
        let chunk = serde::de::DeserializeSeed::deserialize(ChunkSeed(self), &mut deserializer)?;
        deserializer.end()?;
        Ok(chunk)
    }
}

struct ChunkSeed<'a>(&'a mut ChunkStrings);

impl<'de> serde::de::DeserializeSeed<'de> for ChunkSeed<'_> {
    type Value = ChatChunk;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<ChatChunk, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ChunkSeed<'_> {
    type Value = ChatChunk;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a ChatChunk object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ChatChunk, A::Error> {
        let mut chunk = ChunkParts::default();
        let mut header = HeaderText::default();
        let text = |key: Option<Key<'de>>| {
            key.map(|key| match key {
                Key::Borrowed(text) => Cow::Borrowed(text),
                Key::Owned(text) => Cow::Owned(text),
            })
        };
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "id" => header.id = text(map.next_value()?),
                "object" => header.object = text(map.next_value()?),
                "model" => header.model = text(map.next_value()?),
                "system_fingerprint" => header.system_fingerprint = text(map.next_value()?),
                "service_tier" => header.service_tier = text(map.next_value()?),
                "created" => chunk.created = map.next_value::<LenientU64>()?.0,
                "choices" => chunk.choices = map.next_value::<NullAsDefault<_>>()?.0,
                "usage" => chunk.usage = map.next_value()?,
                // Random padding against length side channels: it carries nothing.
                "obfuscation" => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                _ => {
                    let value: Value = map.next_value()?;
                    chunk.extra.insert(key.into_owned(), value);
                }
            }
        }
        Ok(chunk.into_chunk(self.0.header(header)))
    }
}

impl<'de> Deserialize<'de> for ChatChunk {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ChatChunk, D::Error> {
        serde::de::DeserializeSeed::deserialize(
            ChunkSeed(&mut ChunkStrings::default()),
            deserializer,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_serialises_its_shared_header_inline() {
        let frame = r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":"hi"}}],"x":1}"#;
        let chunk = ChunkStrings::default().decode(frame.as_bytes()).unwrap();
        let value = serde_json::to_value(&chunk).unwrap();
        assert_eq!(value["id"], "c1");
        assert_eq!(value["object"], "chat.completion.chunk");
        assert_eq!(value["model"], "m");
        assert_eq!(value["system_fingerprint"], "fp");
        assert_eq!(value["created"], 7);
        assert_eq!(value["x"], 1);
        assert_eq!(value["choices"][0]["delta"]["content"], "hi");
        assert!(value.get("header").is_none() && value.get("service_tier").is_none());
        let again: ChatChunk = serde_json::from_value(value).unwrap();
        assert_eq!(again.header, chunk.header);
        assert_eq!(again.content(), Some("hi"));
    }

    #[test]
    fn chunk_frames_share_repeated_strings_and_bad_utf8_reads_as_serde_reads_it() {
        let mut strings = ChunkStrings::default();
        let frame = "{\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\u{e9}\"}}]}";
        let first = strings.decode(frame.as_bytes()).unwrap();
        let second = strings.decode(frame.as_bytes()).unwrap();
        assert_eq!(second.content(), Some("h\u{e9}"));
        assert!(Arc::ptr_eq(&first.header, &second.header));
        assert_eq!((second.id(), second.model()), (Some("c1"), Some("m")));
        // A string serde reads must be UTF-8; a value it skips (the padding) need not be.
        let bad_id = b"{\"id\":\"c\xff\",\"choices\":[]}";
        let error = strings.decode(bad_id).unwrap_err();
        assert_eq!(
            error.to_string(),
            serde_json::from_slice::<ChatChunk>(bad_id)
                .unwrap_err()
                .to_string()
        );
        let bad_padding =
            b"{\"id\":\"c1\",\"model\":\"m\",\"choices\":[],\"obfuscation\":\"\xff\"}";
        let chunk = strings.decode(bad_padding).unwrap();
        assert!(Arc::ptr_eq(&chunk.header, &first.header));
    }
}
