//! Legacy text completions: `POST /v1/completions`, plain and streamed — sent natively,
//! never rewritten as chat.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::chat::{FinishReason, Stop, StreamOptions, Usage};
use crate::metadata::ResponseMetadata;
use crate::options::{RequestOptions, request_options_builders};
use crate::wire::TextInput;
use crate::wire::{empty_as_none, lenient_u32, lenient_u64, null_as_default, setters};

/// The prompt: a string, several strings, token ids, or several lists of token ids.
pub type Prompt = TextInput;

/// A text-completion request.
///
/// `Deserialize` reads the JSON body this type serialises to (a batch file, a replay):
/// unknown fields land in `extra`, so serialising what was read gives the same bytes. The
/// per-request settings that never go on the wire (`api_key`, `api_base`, headers,
/// timeouts, retries, mock answers) are not read: a deserialised request has none, and
/// takes the client's.
///
/// ```
/// use mishika_core::completions::CompletionRequest;
/// let request = CompletionRequest::new("mishikallm_proxy/gpt-3.5-turbo-instruct", "Say this is a test")
///     .max_tokens(7)
///     .temperature(0.0)
///     .echo(true);
/// assert_eq!(request.max_tokens, Some(7));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// `prefix/model`.
    pub model: String,
    /// The prompt(s).
    pub prompt: Prompt,
    /// Text after the completion (insert mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Cap on generated tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Completions per prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Set by mishika for streamed calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Options for streamed answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Log probabilities of the top N tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
    /// Echo the prompt before the completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    /// Stop sequence(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Presence penalty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// Frequency penalty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Generate this many server-side and return the best.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_of: Option<u32>,
    /// Token id → bias (sent in key order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<BTreeMap<String, f32>>,
    /// Sampling seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
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

impl CompletionRequest {
    /// A request for `model` completing `prompt`.
    pub fn new(model: impl Into<String>, prompt: impl Into<Prompt>) -> CompletionRequest {
        CompletionRequest {
            model: model.into(),
            prompt: prompt.into(),
            suffix: None,
            max_tokens: None,
            temperature: None,
            top_p: None,
            n: None,
            stream: None,
            stream_options: None,
            logprobs: None,
            echo: None,
            stop: None,
            presence_penalty: None,
            frequency_penalty: None,
            best_of: None,
            logit_bias: None,
            seed: None,
            user: None,
            extra: Map::new(),
            options: RequestOptions::default(),
            invalid: None,
        }
    }

    setters! {
        /// Text after the completion.
        suffix: impl Into<String>,
        /// Cap on generated tokens.
        max_tokens: u32,
        /// Sampling temperature.
        temperature: f32,
        /// Nucleus sampling.
        top_p: f32,
        /// Completions per prompt.
        n: u32,
        /// Log probabilities of the top N tokens.
        logprobs: u32,
        /// Echo the prompt.
        echo: bool,
        /// Stop sequence(s).
        stop: impl Into<Stop>,
        /// Presence penalty.
        presence_penalty: f32,
        /// Frequency penalty.
        frequency_penalty: f32,
        /// Best of N server-side.
        best_of: u32,
        /// Sampling seed.
        seed: i64,
        /// End-user id.
        user: impl Into<String>,
    }

    /// Token id → bias (any map or list of pairs).
    #[must_use]
    pub fn logit_bias(mut self, bias: impl IntoIterator<Item = (String, f32)>) -> Self {
        self.logit_bias = Some(bias.into_iter().collect());
        self
    }

    /// Ask for a final usage chunk on streamed answers.
    #[must_use]
    pub fn include_usage(mut self, include: bool) -> Self {
        self.stream_options = Some(StreamOptions {
            include_usage: Some(include),
        });
        self
    }
}

request_options_builders!(CompletionRequest);

/// A text-completion answer; streamed chunks have the same shape ([`CompletionChunk`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionResponse {
    /// The completion's id.
    #[serde(default)]
    pub id: Option<String>,
    /// `text_completion`.
    #[serde(default)]
    pub object: Option<String>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub created: Option<u64>,
    /// The model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// One choice per prompt × `n`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<CompletionChoice>,
    /// Token counts (boxed, as on chat answers).
    #[serde(default)]
    pub usage: Option<Box<Usage>>,
    /// Backend configuration fingerprint.
    #[serde(default)]
    pub system_fingerprint: Option<String>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The answer's status and headers.
    #[serde(skip)]
    pub metadata: ResponseMetadata,
}

/// A chunk of a streamed text completion.
pub type CompletionChunk = CompletionResponse;

impl CompletionResponse {
    /// The first choice's text.
    pub fn text(&self) -> Option<&str> {
        Some(self.choices.first()?.text.as_str())
    }
}

/// One completion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionChoice {
    /// The generated text (a delta, in a streamed chunk).
    #[serde(default, deserialize_with = "null_as_default")]
    pub text: String,
    /// Position among the choices.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub index: u32,
    /// Log probabilities, when asked for.
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Why generation stopped (`""` decodes as `None`).
    #[serde(default, deserialize_with = "empty_as_none")]
    pub finish_reason: Option<FinishReason>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
