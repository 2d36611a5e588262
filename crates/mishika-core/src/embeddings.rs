//! Embeddings: `POST /v1/embeddings`. Vectors are `Vec<f32>` whichever format went over the
//! wire: base64 answers are decoded straight from the JSON string (little-endian f32s).

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::metadata::ResponseMetadata;
use crate::options::{RequestOptions, request_options_builders};
use crate::wire::{TextInput, lenient_u32, lenient_u64, null_as_default, setters, string_enum};

/// What to embed: a string, several strings, token ids, or several lists of token ids.
pub type EmbeddingInput = TextInput;

string_enum! {
    /// How vectors travel over the wire. Base64 is smaller and much cheaper to parse.
    pub enum EncodingFormat {
        /// JSON arrays of numbers.
        Float => "float",
        /// Base64 of little-endian f32s.
        Base64 => "base64",
    }
}

/// An embeddings request.
///
/// `Deserialize` reads the JSON body this type serialises to (a batch file, a replay):
/// unknown fields land in `extra`, so serialising what was read gives the same bytes. The
/// per-request settings that never go on the wire (`api_key`, `api_base`, headers,
/// timeouts, retries, mock answers) are not read: a deserialised request has none, and
/// takes the client's.
///
/// ```
/// use mishika_core::embeddings::{EmbeddingRequest, EncodingFormat};
/// let request = EmbeddingRequest::new("mishikallm_proxy/text-embedding-3-small", vec!["a", "b"])
///     .dimensions(256)
///     .encoding_format(EncodingFormat::Base64);
/// assert_eq!(request.dimensions, Some(256));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    /// `prefix/model`.
    pub model: String,
    /// What to embed.
    pub input: EmbeddingInput,
    /// Output dimensions (models that support shortening).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Wire format of the vectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<EncodingFormat>,
    /// End-user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Any other field, merged into the JSON body.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    #[serde(skip)]
    options: RequestOptions,
    #[serde(skip)]
    invalid: Option<crate::options::InvalidOption>,
}

impl EmbeddingRequest {
    /// Embed `input` with `model`.
    pub fn new(model: impl Into<String>, input: impl Into<EmbeddingInput>) -> EmbeddingRequest {
        EmbeddingRequest {
            model: model.into(),
            input: input.into(),
            dimensions: None,
            encoding_format: None,
            user: None,
            extra: Map::new(),
            options: RequestOptions::default(),
            invalid: None,
        }
    }

    setters! {
        /// Output dimensions.
        dimensions: u32,
        /// Wire format of the vectors.
        encoding_format: EncodingFormat,
        /// End-user id.
        user: impl Into<String>,
    }
}

request_options_builders!(EmbeddingRequest);

/// An embeddings answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddingResponse {
    /// `list`.
    #[serde(default)]
    pub object: Option<String>,
    /// One embedding per input, with its index.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<Embedding>,
    /// The model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<EmbeddingUsage>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The answer's status and headers.
    #[serde(skip)]
    pub metadata: ResponseMetadata,
}

impl EmbeddingResponse {
    /// The vectors in input order (sorted by `index`, whatever order they arrived in).
    pub fn vectors(&self) -> Vec<&[f32]> {
        let mut data: Vec<&Embedding> = self.data.iter().collect();
        data.sort_by_key(|embedding| embedding.index);
        data.into_iter().map(|e| e.embedding.as_slice()).collect()
    }
}

/// One vector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Embedding {
    /// Which input it embeds.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub index: u32,
    /// The vector (decoded from base64 when that was the wire format).
    #[serde(default, deserialize_with = "float_or_base64")]
    pub embedding: Vec<f32>,
    /// `embedding`.
    #[serde(default)]
    pub object: Option<String>,
}

/// Token counts of an embeddings call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddingUsage {
    /// Tokens in the input.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub prompt_tokens: Option<u64>,
    /// Same as `prompt_tokens` for embeddings.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub total_tokens: Option<u64>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Decode a base64 string of little-endian f32s.
///
/// Fails on malformed base64 or a byte length that is not a multiple of 4.
pub fn decode_base64_f32(text: &str) -> Result<Vec<f32>, String> {
    // Decoded a block at a time through a stack buffer, so no zero-filled byte vector is
    // allocated, filled and copied. A block of 4 096 characters is 3 072 bytes: whole
    // quanta and whole f32s, so only the last block can hold padding or a remainder.
    const BLOCK: usize = 4096;
    let text = text.trim().as_bytes();
    let mut vector = Vec::with_capacity(text.len() / 4 * 3 / 4);
    let mut buffer = [0u8; BLOCK / 4 * 3];
    let mut blocks = text.chunks(BLOCK).peekable();
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        if !last && block.last() == Some(&b'=') {
            return Err(base64_error(text));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode_slice(block, &mut buffer)
            .map_err(|_| base64_error(text))?;
        let bytes = &buffer[..decoded];
        if bytes.len() % 4 != 0 {
            let total = vector.len() * 4 + bytes.len();
            return Err(format!(
                "base64 embedding has {total} bytes, not a multiple of 4"
            ));
        }
        vector.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    Ok(vector)
}

/// What is wrong with `text` as base64, worded by decoding it whole (so the offset given
/// is the string's, not a block's).
fn base64_error(text: &[u8]) -> String {
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Err(e) => format!("embedding is not valid base64: {e}"),
        Ok(_) => "embedding is not valid base64: padding before the end".to_owned(),
    }
}

/// A vector as a JSON array of numbers, a base64 string, or `null` (empty).
fn float_or_base64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
    struct VectorVisitor;

    impl<'de> Visitor<'de> for VectorVisitor {
        type Value = Vec<f32>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of numbers or a base64 string")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f32>, A::Error> {
            let mut vector = Vec::with_capacity(seq.size_hint().unwrap_or(1536));
            while let Some(value) = seq.next_element::<f32>()? {
                vector.push(value);
            }
            Ok(vector)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<f32>, E> {
            decode_base64_f32(text).map_err(E::custom)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Vec<f32>, E> {
            Ok(Vec::new())
        }

        fn visit_none<E: de::Error>(self) -> Result<Vec<f32>, E> {
            Ok(Vec::new())
        }
    }

    deserializer.deserialize_any(VectorVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_and_base64_decode_to_the_same_vector() {
        let values = [0.5f32, -1.25, 3.0e-3];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let float: EmbeddingResponse =
            serde_json::from_str(r#"{"data":[{"index":0,"embedding":[0.5,-1.25,0.003]}]}"#)
                .unwrap();
        let based: EmbeddingResponse = serde_json::from_str(&format!(
            r#"{{"data":[{{"index":0,"embedding":"{b64}"}}]}}"#
        ))
        .unwrap();
        assert_eq!(float.data[0].embedding, values);
        assert_eq!(based.data[0].embedding, values);
    }

    #[test]
    fn malformed_base64_is_an_error() {
        assert!(decode_base64_f32("not base64!").is_err());
        // Blocks of 4 096 characters: padding that ends a block before the last is still
        // padding in the middle, and errors name offsets in the whole string.
        let odd = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 4099]);
        assert!(odd.len() > 4096);
        assert_eq!(
            decode_base64_f32(&odd).err().as_deref(),
            Some("base64 embedding has 4099 bytes, not a multiple of 4")
        );
        let mut padded_block = "A".repeat(4094) + "==";
        padded_block.push_str(&"A".repeat(4096));
        assert!(decode_base64_f32(&padded_block).is_err(), "padding inside");
        let mut bad_late = "A".repeat(5000);
        bad_late.replace_range(4500..4501, "!");
        let error = decode_base64_f32(&bad_late).err().unwrap_or_default();
        assert!(error.contains("offset 4500"), "{error}");
        let vector: Vec<f32> = (0..3000).map(|i| i as f32 * 0.25 - 7.0).collect();
        let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert!(encoded.len() > 3 * 4096);
        let decoded = decode_base64_f32(&format!(" {encoded}\n")).expect("valid base64");
        assert!(decoded == vector, "decoded vector differs");
        let three_bytes = base64::engine::general_purpose::STANDARD.encode([1u8, 2, 3]);
        let error = decode_base64_f32(&three_bytes).unwrap_err();
        assert!(error.contains("not a multiple of 4"), "{error}");
        let result: Result<EmbeddingResponse, _> =
            serde_json::from_str(&format!(r#"{{"data":[{{"embedding":"{three_bytes}"}}]}}"#));
        assert!(result.is_err());
    }

    /// The plain way: decode the whole string, then convert.
    fn decode_whole(text: &str) -> Result<Vec<f32>, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("embedding is not valid base64: {e}"))?;
        if bytes.len() % 4 != 0 {
            return Err(format!(
                "base64 embedding has {} bytes, not a multiple of 4",
                bytes.len()
            ));
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    proptest::proptest! {
        /// Block by block gives what decoding the whole string gives, error text included,
        /// for valid vectors, odd lengths and strings damaged anywhere.
        #[test]
        fn block_decoding_matches_whole_decoding(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..14_000),
            damage in proptest::option::of((proptest::prelude::any::<proptest::sample::Index>(), proptest::sample::select(vec!['=', '!', ' ', 'A', '-']))),
        ) {
            let mut text = base64::engine::general_purpose::STANDARD.encode(&bytes);
            if let (Some((at, with)), false) = (damage, text.is_empty()) {
                let at = at.index(text.len());
                text.replace_range(at..at + 1, &with.to_string());
            }
            let blocks = decode_base64_f32(&text).map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>());
            let whole = decode_whole(&text).map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>());
            proptest::prop_assert!(blocks == whole, "{:?} vs {:?}", blocks.as_ref().map(Vec::len), whole.as_ref().map(Vec::len));
        }
    }

    #[test]
    fn vectors_follow_index_order() {
        let response: EmbeddingResponse = serde_json::from_str(
            r#"{"data":[{"index":1,"embedding":[2.0]},{"index":0,"embedding":[1.0]}],"usage":{"prompt_tokens":2,"total_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!(response.vectors(), [&[1.0f32][..], &[2.0][..]]);
    }
}
