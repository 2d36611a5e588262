//! Image generation: `POST /v1/images/generations`.

use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::metadata::ResponseMetadata;
use crate::options::{RequestOptions, request_options_builders};
use crate::wire::{lenient_u64, null_as_default, setters};

/// An image-generation request. Sizes, qualities and styles are strings, so any value the
/// model accepts (`1024x1024`, `hd`, `vivid`, `transparent` …) passes through.
///
/// `Deserialize` reads the JSON body this type serialises to (a batch file, a replay):
/// unknown fields land in `extra`, so serialising what was read gives the same bytes. The
/// per-request settings that never go on the wire (`api_key`, `api_base`, headers,
/// timeouts, retries, mock answers) are not read: a deserialised request has none, and
/// takes the client's.
///
/// ```
/// use mishika_core::images::ImageRequest;
/// let request = ImageRequest::new("mishikallm_proxy/dall-e-3", "a lighthouse at dusk")
///     .size("1024x1024")
///     .quality("hd")
///     .style("vivid")
///     .response_format("b64_json");
/// assert_eq!(request.style.as_deref(), Some("vivid"));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRequest {
    /// `prefix/model`.
    pub model: String,
    /// What to draw.
    pub prompt: String,
    /// How many images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// `1024x1024`, `1792x1024` …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// `standard`, `hd`, `low`, `medium`, `high` …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    /// `vivid` or `natural`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    /// `url` or `b64_json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<String>,
    /// `transparent`, `opaque` or `auto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
    /// `png`, `jpeg` or `webp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    /// 0–100, for jpeg and webp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_compression: Option<u8>,
    /// `low` or `auto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation: Option<String>,
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

impl ImageRequest {
    /// Draw `prompt` with `model`.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> ImageRequest {
        ImageRequest {
            model: model.into(),
            prompt: prompt.into(),
            n: None,
            size: None,
            quality: None,
            style: None,
            response_format: None,
            background: None,
            output_format: None,
            output_compression: None,
            moderation: None,
            user: None,
            extra: Map::new(),
            options: RequestOptions::default(),
            invalid: None,
        }
    }

    setters! {
        /// How many images.
        n: u32,
        /// Image size.
        size: impl Into<String>,
        /// Quality.
        quality: impl Into<String>,
        /// Style.
        style: impl Into<String>,
        /// `url` or `b64_json`.
        response_format: impl Into<String>,
        /// Background.
        background: impl Into<String>,
        /// Output file format.
        output_format: impl Into<String>,
        /// Output compression, 0–100.
        output_compression: u8,
        /// Moderation level.
        moderation: impl Into<String>,
        /// End-user id.
        user: impl Into<String>,
    }
}

request_options_builders!(ImageRequest);

/// An image-generation answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageResponse {
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub created: Option<u64>,
    /// The images.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<Image>,
    /// Token usage (gpt-image models).
    #[serde(default)]
    pub usage: Option<ImageUsage>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The answer's status and headers.
    #[serde(skip)]
    pub metadata: ResponseMetadata,
}

/// One generated image: a URL or base64 data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Image {
    /// Where to download it (`response_format: url`).
    #[serde(default)]
    pub url: Option<String>,
    /// The image itself (`response_format: b64_json`).
    #[serde(default)]
    pub b64_json: Option<String>,
    /// The prompt the model actually used.
    #[serde(default)]
    pub revised_prompt: Option<String>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Image {
    /// An image given as base64 data (what `response_format("b64_json")` answers).
    pub fn from_b64_json(data: impl Into<String>) -> Image {
        Image {
            b64_json: Some(data.into()),
            ..Image::default()
        }
    }

    /// An image given as a URL to download.
    pub fn from_url(url: impl Into<String>) -> Image {
        Image {
            url: Some(url.into()),
            ..Image::default()
        }
    }

    /// The decoded bytes of a `b64_json` image.
    ///
    /// A `Decode` error for invalid base64. A `Config` error when the answer holds only a
    /// URL: mishika does not download it; ask for the bytes with
    /// `ImageRequest::response_format("b64_json")`, or download `url` yourself.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        let Some(data) = self.b64_json.as_deref() else {
            return Err(Error::config(match self.url {
                Some(_) => {
                    "this image came as a URL, which mishika does not download: request \
                     `.response_format(\"b64_json\")` on the ImageRequest to get its bytes, \
                     or download `url` yourself"
                }
                None => {
                    "this image has neither b64_json data nor a URL: request \
                     `.response_format(\"b64_json\")` on the ImageRequest to get its bytes"
                }
            }));
        };
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| Error::decode("b64_json is not valid base64").with_source(e))
    }

    /// Decode a `b64_json` image and write it to `path`; returns the number of bytes
    /// written. The file is written whole or not at all: the bytes go to a temporary file
    /// beside `path`, renamed over it once complete, so a failure leaves what was at
    /// `path` before untouched and no temporary file behind (the new file replaces the
    /// old one, with a new file's permissions). The errors of [`bytes`](Image::bytes)
    /// come before any file is touched.
    #[cfg(feature = "tokio")]
    pub async fn save(&self, path: impl AsRef<Path>) -> Result<usize> {
        let bytes = self.bytes()?;
        crate::file::write(path.as_ref(), &bytes).await?;
        Ok(bytes.len())
    }

    /// Decode a `b64_json` image and write it to `path` with blocking file I/O, for code
    /// outside an async runtime (`save`, with the `tokio` feature, is the async form).
    /// Returns the number of bytes written. Written whole or not at all, like `save`: a
    /// temporary file beside `path` is renamed over it once complete.
    pub fn save_blocking(&self, path: impl AsRef<Path>) -> Result<usize> {
        let bytes = self.bytes()?;
        crate::file::write_blocking(path.as_ref(), &bytes)?;
        Ok(bytes.len())
    }
}

/// Token usage of an image generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageUsage {
    /// Prompt tokens.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub input_tokens: Option<u64>,
    /// Image tokens.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub output_tokens: Option<u64>,
    /// Sum of both.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub total_tokens: Option<u64>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
