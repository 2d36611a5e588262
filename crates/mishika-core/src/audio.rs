//! Audio: text to speech (`POST /v1/audio/speech`, answered as a byte stream) and
//! transcription (`POST /v1/audio/transcriptions`, sent as multipart/form-data).

use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::metadata::ResponseMetadata;
use crate::multipart::Multipart;
use crate::options::{RequestOptions, request_options_builders};
use crate::transport::{Body, TransportError};
use crate::wire::{setters, string_enum};

/// A text-to-speech request.
///
/// `Deserialize` reads the JSON body this type serialises to (a batch file, a replay):
/// unknown fields land in `extra`, so serialising what was read gives the same bytes. The
/// per-request settings that never go on the wire (`api_key`, `api_base`, headers,
/// timeouts, retries, mock answers) are not read: a deserialised request has none, and
/// takes the client's.
///
/// ```
/// use mishika_core::audio::SpeechRequest;
/// let request = SpeechRequest::new("mishikallm_proxy/tts-1", "Hello!", "alloy")
///     .response_format("mp3")
///     .speed(1.25);
/// assert_eq!(request.voice, "alloy");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpeechRequest {
    /// `prefix/model`.
    pub model: String,
    /// The text to speak.
    pub input: String,
    /// The voice (`alloy`, `echo`, `nova` …).
    pub voice: String,
    /// `mp3`, `opus`, `aac`, `flac`, `wav` or `pcm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<String>,
    /// 0.25 – 4.0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
    /// How to speak (tone, accent …), for models that take instructions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Any other field, merged into the JSON body.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    #[serde(skip)]
    options: RequestOptions,
    #[serde(skip)]
    invalid: Option<crate::options::InvalidOption>,
}

impl SpeechRequest {
    /// Speak `input` with `voice`.
    pub fn new(
        model: impl Into<String>,
        input: impl Into<String>,
        voice: impl Into<String>,
    ) -> SpeechRequest {
        SpeechRequest {
            model: model.into(),
            input: input.into(),
            voice: voice.into(),
            response_format: None,
            speed: None,
            instructions: None,
            extra: Map::new(),
            options: RequestOptions::default(),
            invalid: None,
        }
    }

    setters! {
        /// Audio format.
        response_format: impl Into<String>,
        /// Speed, 0.25 – 4.0.
        speed: f32,
        /// Speaking instructions.
        instructions: impl Into<String>,
    }
}

request_options_builders!(SpeechRequest);

/// Generated audio: a stream of `Bytes` as it arrives, never held whole unless you ask.
#[derive(Debug)]
pub struct SpeechResponse {
    metadata: ResponseMetadata,
    body: Body,
}

impl SpeechResponse {
    /// Wrap a successful answer.
    pub fn new(metadata: ResponseMetadata, body: Body) -> SpeechResponse {
        SpeechResponse { metadata, body }
    }

    /// The answer's status and headers, to amend (a router records its route here).
    pub fn metadata_mut(&mut self) -> &mut ResponseMetadata {
        &mut self.metadata
    }

    /// The answer's status and headers.
    pub fn metadata(&self) -> &ResponseMetadata {
        &self.metadata
    }

    /// The audio's content type (`audio/mpeg` …).
    pub fn content_type(&self) -> Option<&str> {
        self.metadata.content_type()
    }

    /// The raw body.
    pub fn into_body(self) -> Body {
        self.body
    }

    /// All the audio in memory, failing past `limit` bytes.
    pub async fn bytes(self, limit: usize) -> Result<Bytes> {
        self.body.collect(limit).await
    }

    /// Write the audio to `writer` chunk by chunk (memory stays at one network chunk);
    /// returns the number of bytes written.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn write_to<W>(self, writer: &mut W) -> Result<u64>
    where
        W: tokio::io::AsyncWrite + Unpin + ?Sized,
    {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let mut body = self.body;
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(TransportError::into_stream_error)?;
            writer.write_all(&chunk).await.map_err(|e| {
                Error::new(crate::ErrorKind::Io, "could not write the audio").with_source(e)
            })?;
            written += chunk.len() as u64;
        }
        writer.flush().await.map_err(|e| {
            Error::new(crate::ErrorKind::Io, "could not write the audio").with_source(e)
        })?;
        Ok(written)
    }

    /// Stream the audio into the file at `path`; returns the bytes written. The file is
    /// written whole or not at all: the audio goes to a temporary file beside `path`,
    /// renamed over it once the body has ended and the bytes are synced, so a failed
    /// download (a cut body, a full disk) leaves what was at `path` before untouched and
    /// no temporary file behind. The new file replaces the old one, with a new file's
    /// permissions.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn save(self, path: impl AsRef<Path>) -> Result<u64> {
        crate::file::write_with(path.as_ref(), |mut file| async move {
            let written = self.write_to(&mut file).await?;
            Ok((written, file))
        })
        .await
    }
}

impl Stream for SpeechResponse {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        Pin::new(&mut self.body)
            .poll_next(cx)
            .map(|item| item.map(|chunk| chunk.map_err(TransportError::into_stream_error)))
    }
}

string_enum! {
    /// What a transcription answers with.
    pub enum TranscriptionFormat {
        /// `{"text": …}`.
        Json => "json",
        /// Plain text.
        Text => "text",
        /// SubRip subtitles.
        Srt => "srt",
        /// WebVTT subtitles.
        Vtt => "vtt",
        /// JSON with language, duration, segments and words.
        VerboseJson => "verbose_json",
    }
}

string_enum! {
    /// Timestamp detail for `verbose_json` transcriptions.
    pub enum TimestampGranularity {
        /// Per word.
        Word => "word",
        /// Per segment.
        Segment => "segment",
    }
}

/// An audio file to upload.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioFile {
    /// The file name sent to the server (its extension tells the format).
    pub filename: String,
    /// The MIME type of the part.
    pub content_type: String,
    /// The audio.
    pub data: Bytes,
}

impl AudioFile {
    /// Audio in memory, with a file name whose extension gives the content type.
    pub fn new(data: impl Into<Bytes>, filename: impl Into<String>) -> AudioFile {
        let filename = filename.into();
        AudioFile {
            content_type: content_type_for(&filename).to_owned(),
            filename,
            data: data.into(),
        }
    }

    /// Read the file at `path`; its name and extension are kept.
    #[cfg(feature = "tokio")]
    pub async fn from_path(path: impl AsRef<Path>) -> Result<AudioFile> {
        let path = path.as_ref();
        let data = tokio::fs::read(path)
            .await
            .map_err(|e| Error::io("read", path, e))?;
        Ok(AudioFile::new(data, file_name(path)))
    }

    /// Read the file at `path` with blocking file I/O, for code outside an async runtime
    /// (`from_path`, with the `tokio` feature, is the async form); its name and extension
    /// are kept.
    pub fn from_path_blocking(path: impl AsRef<Path>) -> Result<AudioFile> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        Ok(AudioFile::new(data, file_name(path)))
    }

    /// Override the content type.
    #[must_use]
    pub fn content_type(mut self, content_type: impl Into<String>) -> AudioFile {
        self.content_type = content_type.into();
        self
    }
}

/// The name an uploaded file is sent under: the path's last part, or `audio`.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "audio".to_owned())
}

/// The MIME type for an audio file name's extension (`application/octet-stream` if unknown).
pub fn content_type_for(filename: &str) -> &'static str {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "mp3" | "mpga" | "mpeg" => "audio/mpeg",
        "mp4" | "m4a" => "audio/mp4",
        "wav" => "audio/wav",
        "webm" => "audio/webm",
        "ogg" | "oga" => "audio/ogg",
        "opus" => "audio/opus",
        "flac" => "audio/flac",
        "aac" => "audio/aac",
        _ => "application/octet-stream",
    }
}

/// A transcription request.
///
/// Unlike the other requests it has no `Deserialize`: it is sent as multipart/form-data
/// with the audio file's bytes, not as JSON, so there is no wire JSON to read it back from
/// (a JSON form would need an encoding for the audio that no server speaks). Keep the
/// audio's path beside your other settings and build the request with
/// [`AudioFile::from_path_blocking`] or its async form.
///
/// ```
/// use mishika_core::audio::{AudioFile, TimestampGranularity, TranscriptionFormat, TranscriptionRequest};
/// let request = TranscriptionRequest::new("mishikallm_proxy/whisper-1", AudioFile::new(&b"RIFF"[..], "hello.wav"))
///     .language("en")
///     .response_format(TranscriptionFormat::VerboseJson)
///     .timestamp_granularities([TimestampGranularity::Word, TimestampGranularity::Segment]);
/// assert_eq!(request.file.content_type, "audio/wav");
/// ```
#[derive(Debug, Clone)]
pub struct TranscriptionRequest {
    /// `prefix/model`.
    pub model: String,
    /// The audio.
    pub file: AudioFile,
    /// ISO-639-1 language of the audio.
    pub language: Option<String>,
    /// Text to guide style or continue a previous segment.
    pub prompt: Option<String>,
    /// Answer format.
    pub response_format: Option<TranscriptionFormat>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Timestamp detail (sent as repeated `timestamp_granularities[]` fields).
    pub timestamp_granularities: Vec<TimestampGranularity>,
    /// Any other form field (arrays become repeated fields, objects JSON text).
    pub extra: Map<String, Value>,
    options: RequestOptions,
    invalid: Option<crate::options::InvalidOption>,
}

impl TranscriptionRequest {
    /// Transcribe `file` with `model`.
    pub fn new(model: impl Into<String>, file: AudioFile) -> TranscriptionRequest {
        TranscriptionRequest {
            model: model.into(),
            file,
            language: None,
            prompt: None,
            response_format: None,
            temperature: None,
            timestamp_granularities: Vec::new(),
            extra: Map::new(),
            options: RequestOptions::default(),
            invalid: None,
        }
    }

    setters! {
        /// Language of the audio.
        language: impl Into<String>,
        /// Guiding prompt.
        prompt: impl Into<String>,
        /// Answer format.
        response_format: TranscriptionFormat,
        /// Sampling temperature.
        temperature: f32,
    }

    /// Timestamp detail.
    #[must_use]
    pub fn timestamp_granularities(
        mut self,
        granularities: impl IntoIterator<Item = TimestampGranularity>,
    ) -> Self {
        self.timestamp_granularities = granularities.into_iter().collect();
        self
    }

    /// The form this request is sent as.
    pub fn to_multipart(&self) -> Multipart {
        let mut form = Multipart::new().file(
            "file",
            self.file.filename.clone(),
            self.file.content_type.clone(),
            self.file.data.clone(),
        );
        form = form.text("model", self.model.clone());
        if let Some(language) = &self.language {
            form = form.text("language", language.clone());
        }
        if let Some(prompt) = &self.prompt {
            form = form.text("prompt", prompt.clone());
        }
        if let Some(format) = &self.response_format {
            form = form.text("response_format", format.as_str());
        }
        if let Some(temperature) = self.temperature {
            form = form.text("temperature", temperature.to_string());
        }
        for granularity in &self.timestamp_granularities {
            form = form.text("timestamp_granularities[]", granularity.as_str());
        }
        for (name, value) in &self.extra {
            match value {
                Value::Array(items) => {
                    for item in items {
                        form = form.text(name.clone(), form_text(item));
                    }
                }
                other => form = form.text(name.clone(), form_text(other)),
            }
        }
        form
    }
}

fn form_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

request_options_builders!(TranscriptionRequest);

/// A transcription answer, whatever format was asked for: for `text`, `srt` and `vtt` the
/// body (plain, or `{"text": …}` JSON, depending on the gateway) is in `text`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TranscriptionResponse {
    /// The transcript (or the subtitle file, for `srt` / `vtt`).
    #[serde(default)]
    pub text: String,
    /// `transcribe` (verbose_json).
    #[serde(default)]
    pub task: Option<String>,
    /// Detected or given language (verbose_json).
    #[serde(default)]
    pub language: Option<String>,
    /// Seconds of audio (verbose_json).
    #[serde(default)]
    pub duration: Option<f64>,
    /// Segments with timings (verbose_json).
    #[serde(default)]
    pub segments: Option<Vec<TranscriptionSegment>>,
    /// Words with timings (verbose_json with word granularity).
    #[serde(default)]
    pub words: Option<Vec<TranscriptionWord>>,
    /// Usage, where the gateway reports it.
    #[serde(default)]
    pub usage: Option<Value>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The answer's status and headers.
    #[serde(skip)]
    pub metadata: ResponseMetadata,
}

/// A transcribed segment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TranscriptionSegment {
    /// Segment number.
    #[serde(default)]
    pub id: Option<u64>,
    /// Start, in seconds.
    #[serde(default)]
    pub start: Option<f64>,
    /// End, in seconds.
    #[serde(default)]
    pub end: Option<f64>,
    /// The text.
    #[serde(default)]
    pub text: Option<String>,
    /// Any other field (`seek`, `tokens`, `avg_logprob` …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A transcribed word.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TranscriptionWord {
    /// The word.
    #[serde(default)]
    pub word: String,
    /// Start, in seconds.
    #[serde(default)]
    pub start: Option<f64>,
    /// End, in seconds.
    #[serde(default)]
    pub end: Option<f64>,
}
