//! Chat completions: `POST /v1/chat/completions`, plain and streamed.
//!
//! Request types serialise to OpenAI's JSON; response types decode leniently (every
//! server-controlled field optional, `null` = absent, unknown enum values kept, unknown
//! fields kept in `extra`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::metadata::ResponseMetadata;
use crate::options::{RequestOptions, request_options_builders};
use crate::wire::{
    EmptyAsNone, LenientU32, LenientU64, NullAsDefault, deserialize_lenient, lenient_u32,
    null_as_default, string_enum,
};

string_enum! {
    /// Who wrote a message.
    pub enum Role {
        /// Instructions for the model.
        System => "system",
        /// Newer name for system instructions on some models.
        Developer => "developer",
        /// The user.
        User => "user",
        /// The model.
        Assistant => "assistant",
        /// A tool's result.
        Tool => "tool",
        /// Legacy function result.
        Function => "function",
    }
}

string_enum! {
    /// Why the model stopped.
    pub enum FinishReason {
        /// Natural end or a stop sequence.
        Stop => "stop",
        /// `max_tokens` reached.
        Length => "length",
        /// The model called tools.
        ToolCalls => "tool_calls",
        /// Filtered by a content policy.
        ContentFilter => "content_filter",
        /// Legacy function call.
        FunctionCall => "function_call",
    }
}

/// A message's content: plain text or a list of parts (text, images …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Multi-part content, e.g. text and an image for vision models.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// All the text in this content (parts' texts joined with a space).
    pub fn text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|part| match part {
                    ContentPart::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Content {
        Content::Text(text.to_owned())
    }
}

impl From<String> for Content {
    fn from(text: String) -> Content {
        Content::Text(text)
    }
}

impl From<Vec<ContentPart>> for Content {
    fn from(parts: Vec<ContentPart>) -> Content {
        Content::Parts(parts)
    }
}

/// One part of multi-part content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image by URL or `data:` URL.
    ImageUrl {
        /// The image.
        image_url: ImageUrl,
    },
    /// Audio input.
    InputAudio {
        /// The audio.
        input_audio: InputAudio,
    },
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> ContentPart {
        ContentPart::Text { text: text.into() }
    }

    /// An image part from a URL (`https://…` or `data:image/png;base64,…`).
    pub fn image_url(url: impl Into<String>) -> ContentPart {
        ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
            },
        }
    }
}

/// An image reference for vision models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageUrl {
    /// `https://…` or a `data:` URL.
    pub url: String,
    /// `low`, `high` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ImageUrl {
    /// An image at `url` (`https://…` or a `data:` URL), at the model's default detail.
    pub fn new(url: impl Into<String>) -> ImageUrl {
        ImageUrl {
            url: url.into(),
            detail: None,
        }
    }

    /// `low`, `high` or `auto`.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> ImageUrl {
        self.detail = Some(detail.into());
        self
    }
}

/// Base64 audio input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputAudio {
    /// Base64 of the audio.
    pub data: String,
    /// `wav`, `mp3` …
    pub format: String,
}

impl InputAudio {
    /// Base64 `data` of audio in `format` (`wav`, `mp3` …).
    pub fn new(data: impl Into<String>, format: impl Into<String>) -> InputAudio {
        InputAudio {
            data: data.into(),
            format: format.into(),
        }
    }
}

/// One message of a conversation, in a request. Build it with [`ChatMessage::user`] and
/// the other constructors, or [`ChatMessage::new`] for any role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says (`None` for an assistant message that only calls tools).
    #[serde(default)]
    pub content: Option<Content>,
    /// An optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls an assistant message made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Any other field of the message.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatMessage {
    fn with(role: Role, content: Option<Content>) -> ChatMessage {
        ChatMessage {
            role,
            content,
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Map::new(),
        }
    }

    /// A message from `role` saying `content` (`None` for no content).
    pub fn new(role: Role, content: Option<Content>) -> ChatMessage {
        ChatMessage::with(role, content)
    }

    /// A system message.
    pub fn system(content: impl Into<Content>) -> ChatMessage {
        ChatMessage::with(Role::System, Some(content.into()))
    }

    /// A user message (text, or parts for vision).
    pub fn user(content: impl Into<Content>) -> ChatMessage {
        ChatMessage::with(Role::User, Some(content.into()))
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<Content>) -> ChatMessage {
        ChatMessage::with(Role::Assistant, Some(content.into()))
    }

    /// An assistant message that called tools.
    pub fn assistant_tool_calls(tool_calls: Vec<ToolCall>) -> ChatMessage {
        let mut message = ChatMessage::with(Role::Assistant, None);
        message.tool_calls = Some(tool_calls);
        message
    }

    /// A tool's result for the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<Content>) -> ChatMessage {
        let mut message = ChatMessage::with(Role::Tool, Some(content.into()));
        message.tool_call_id = Some(tool_call_id.into());
        message
    }

    /// Set the participant name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> ChatMessage {
        self.name = Some(name.into());
        self
    }
}

impl From<ResponseMessage> for ChatMessage {
    /// Put the model's answer back into the conversation (tool calls included).
    fn from(message: ResponseMessage) -> ChatMessage {
        ChatMessage {
            role: message.role.unwrap_or(Role::Assistant),
            content: message.content.map(Content::Text),
            name: None,
            tool_calls: message.tool_calls.filter(|calls| !calls.is_empty()),
            tool_call_id: None,
            extra: Map::new(),
        }
    }
}

/// A tool the model may call. Build it with [`Tool::function`] or [`Tool::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tool {
    /// Always `function` today.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: FunctionDefinition,
}

impl Tool {
    /// A function tool defined by `function`.
    pub fn new(function: FunctionDefinition) -> Tool {
        Tool {
            kind: "function".to_owned(),
            function,
        }
    }

    /// A function tool with a JSON-Schema for its parameters.
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> Tool {
        Tool {
            kind: "function".to_owned(),
            function: FunctionDefinition {
                name: name.into(),
                description: Some(description.into()),
                parameters: Some(parameters),
                strict: None,
            },
        }
    }
}

/// A function's name, description and parameter schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionDefinition {
    /// The name the model calls it by.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON-Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl FunctionDefinition {
    /// A function named `name`, with no description, schema or strictness yet.
    pub fn new(name: impl Into<String>) -> FunctionDefinition {
        FunctionDefinition {
            name: name.into(),
            description: None,
            parameters: None,
            strict: None,
        }
    }

    /// What it does.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> FunctionDefinition {
        self.description = Some(description.into());
        self
    }

    /// JSON-Schema of the arguments.
    #[must_use]
    pub fn parameters(mut self, parameters: Value) -> FunctionDefinition {
        self.parameters = Some(parameters);
        self
    }

    /// Strict schema adherence.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> FunctionDefinition {
        self.strict = Some(strict);
        self
    }
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ToolChoice {
    /// Never call a tool.
    None,
    /// The model decides.
    Auto,
    /// Call at least one tool.
    Required,
    /// Call this function.
    Function(String),
}

impl Serialize for ToolChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolChoice::None => serializer.serialize_str("none"),
            ToolChoice::Auto => serializer.serialize_str("auto"),
            ToolChoice::Required => serializer.serialize_str("required"),
            ToolChoice::Function(name) => serde_json::json!({
                "type": "function",
                "function": { "name": name }
            })
            .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    /// `"none"`, `"auto"`, `"required"` or `{"type": "function", "function": {"name": …}}`,
    /// as [`Serialize`] writes them.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Named {
            name: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Mode(String),
            Function {
                #[serde(rename = "type")]
                kind: String,
                function: Named,
            },
        }
        let unknown = |what: &str| {
            serde::de::Error::custom(format!(
                "unknown tool_choice {what}: expected \"none\", \"auto\", \"required\" or \
                 {{\"type\": \"function\", \"function\": {{\"name\": …}}}}"
            ))
        };
        match Wire::deserialize(deserializer)? {
            Wire::Mode(mode) => match mode.as_str() {
                "none" => Ok(ToolChoice::None),
                "auto" => Ok(ToolChoice::Auto),
                "required" => Ok(ToolChoice::Required),
                other => Err(unknown(&format!("{other:?}"))),
            },
            Wire::Function { kind, function } if kind == "function" => {
                Ok(ToolChoice::Function(function.name))
            }
            Wire::Function { kind, .. } => Err(unknown(&format!("of type {kind:?}"))),
        }
    }
}

/// A tool call the model made. Missing or `null` fields decode as empty. To put one in a
/// conversation yourself, build it with [`ToolCall::function`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// The call's id (quote it in the tool message).
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Always `function` today.
    #[serde(
        rename = "type",
        default = "function_kind",
        deserialize_with = "kind_or_function"
    )]
    pub kind: String,
    /// The function and its JSON arguments.
    #[serde(default, deserialize_with = "null_as_default")]
    pub function: FunctionCall,
}

impl ToolCall {
    /// A call `id` of the function `name` with `arguments` (JSON text).
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> ToolCall {
        ToolCall {
            id: id.into(),
            kind: function_kind(),
            function: FunctionCall::new(name, arguments),
        }
    }
}

fn function_kind() -> String {
    "function".to_owned()
}

fn kind_or_function<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_else(function_kind))
}

/// A function call: its name and its arguments as a JSON string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionCall {
    /// The function's name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// The arguments, as JSON text (parse with `serde_json::from_str`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub arguments: String,
}

impl FunctionCall {
    /// A call of `name` with `arguments` (JSON text).
    pub fn new(name: impl Into<String>, arguments: impl Into<String>) -> FunctionCall {
        FunctionCall {
            name: name.into(),
            arguments: arguments.into(),
        }
    }
}

/// The shape the answer must take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema.
        json_schema: JsonSchema,
    },
}

impl ResponseFormat {
    /// JSON matching `schema`, named `name`, strictly.
    pub fn json_schema(name: impl Into<String>, schema: Value) -> ResponseFormat {
        ResponseFormat::JsonSchema {
            json_schema: JsonSchema::new(name, schema),
        }
    }
}

/// A named JSON-Schema for structured output (see [`ResponseFormat::json_schema`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JsonSchema {
    /// The schema's name.
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Strict adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl JsonSchema {
    /// The schema `schema` named `name`, strictly, without a description.
    pub fn new(name: impl Into<String>, schema: Value) -> JsonSchema {
        JsonSchema {
            name: name.into(),
            description: None,
            schema: Some(schema),
            strict: Some(true),
        }
    }

    /// What it is for.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> JsonSchema {
        self.description = Some(description.into());
        self
    }

    /// Strict adherence (`true` by default).
    #[must_use]
    pub fn strict(mut self, strict: bool) -> JsonSchema {
        self.strict = Some(strict);
        self
    }
}

/// One stop sequence or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Up to four sequences.
    Many(Vec<String>),
}

impl From<&str> for Stop {
    fn from(text: &str) -> Stop {
        Stop::One(text.to_owned())
    }
}

impl From<Vec<String>> for Stop {
    fn from(list: Vec<String>) -> Stop {
        Stop::Many(list)
    }
}

impl From<Vec<&str>> for Stop {
    fn from(list: Vec<&str>) -> Stop {
        Stop::Many(list.into_iter().map(str::to_owned).collect())
    }
}

/// Options for streamed answers (set with `include_usage(..)` on a request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Send a last chunk with the usage of the whole call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
}

/// A chat request. Build with [`ChatRequest::new`] and the builder methods.
///
/// `Deserialize` reads the JSON body this type serialises to (a batch file, a replay):
/// unknown fields land in `extra`, so serialising what was read gives the same bytes. The
/// per-request settings that never go on the wire (`api_key`, `api_base`, headers,
/// timeouts, retries, mock answers) are not read: a deserialised request has none, and
/// takes the client's.
///
/// ```
/// use mishika_core::chat::{ChatMessage, ChatRequest};
/// let request = ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user("Hi")])
///     .temperature(0.2)
///     .max_tokens(64)
///     .extra("metadata", serde_json::json!({"team": "search"}));
/// assert_eq!(request.messages.len(), 1);
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// `prefix/model`, e.g. `mishikallm_proxy/gpt-4o`; providers see the part after the prefix.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Cap on generated tokens (legacy name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Cap on generated tokens, reasoning included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Number of choices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Seed for reproducible sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// End-user id for abuse tracking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Presence penalty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// Frequency penalty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Token id → bias (sent in key order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<BTreeMap<String, f32>>,
    /// Return log probabilities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many top log probabilities per token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Tools the model may call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Whether and which tool to call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Allow several tool calls in one turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Shape of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Set by mishika: `true` for [`chat_stream`](crate::Provider::chat_stream) calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Options for streamed answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Any other field, merged into the JSON body.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    #[serde(skip)]
    options: RequestOptions,
    #[serde(skip)]
    invalid: Option<crate::options::InvalidOption>,
}

impl ChatRequest {
    /// A request for `model` with these messages.
    pub fn new(model: impl Into<String>, messages: impl IntoIterator<Item = ChatMessage>) -> Self {
        ChatRequest {
            model: model.into(),
            messages: messages.into_iter().collect(),
            ..ChatRequest::default()
        }
    }

    /// Append a message.
    #[must_use]
    pub fn message(mut self, message: ChatMessage) -> Self {
        self.messages.push(message);
        self
    }

    /// Sampling temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Nucleus sampling.
    #[must_use]
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Cap on generated tokens (legacy name).
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Cap on generated tokens, reasoning included.
    #[must_use]
    pub fn max_completion_tokens(mut self, max_tokens: u32) -> Self {
        self.max_completion_tokens = Some(max_tokens);
        self
    }

    /// Stop sequence(s).
    #[must_use]
    pub fn stop(mut self, stop: impl Into<Stop>) -> Self {
        self.stop = Some(stop.into());
        self
    }

    /// Number of choices.
    #[must_use]
    pub fn n(mut self, n: u32) -> Self {
        self.n = Some(n);
        self
    }

    /// Sampling seed.
    #[must_use]
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// End-user id.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Tools the model may call.
    #[must_use]
    pub fn tools(mut self, tools: impl IntoIterator<Item = Tool>) -> Self {
        self.tools = Some(tools.into_iter().collect());
        self
    }

    /// Whether and which tool to call.
    #[must_use]
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Shape of the answer.
    #[must_use]
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = Some(format);
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

request_options_builders!(ChatRequest);

/// Token counts of a call.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: Option<u64>,
    /// Tokens generated.
    pub completion_tokens: Option<u64>,
    /// Sum of both.
    pub total_tokens: Option<u64>,
    /// Breakdown of the prompt tokens (cached, audio …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<TokenDetails>,
    /// Breakdown of the generated tokens (reasoning, audio …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<TokenDetails>,
    /// Any other field (LiteLLM adds `cost` on streamed usage).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A breakdown of token counts (`prompt_tokens_details` / `completion_tokens_details`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[non_exhaustive]
pub struct TokenDetails {
    /// Prompt tokens served from cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Audio tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Text tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_tokens: Option<u64>,
    /// Image tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_tokens: Option<u64>,
    /// Reasoning tokens among the generated ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Predicted-output tokens that were used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_prediction_tokens: Option<u64>,
    /// Predicted-output tokens that were not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_prediction_tokens: Option<u64>,
    /// Any other count.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_lenient!(TokenDetails {
    cached_tokens: LenientU64,
    audio_tokens: LenientU64,
    text_tokens: LenientU64,
    image_tokens: LenientU64,
    reasoning_tokens: LenientU64,
    accepted_prediction_tokens: LenientU64,
    rejected_prediction_tokens: LenientU64,
});

deserialize_lenient!(Usage {
    prompt_tokens: LenientU64,
    completion_tokens: LenientU64,
    total_tokens: LenientU64,
    prompt_tokens_details,
    completion_tokens_details,
});

/// A chat answer.
///
/// The answer types are `#[non_exhaustive]`, so a gateway's new fields can be added
/// without breaking anyone who reads them. A provider or a test that makes an answer
/// decodes it from JSON, or starts from `Default` and sets the fields it has:
///
/// ```
/// use mishika_core::chat::{ChatChoice, ChatResponse, FinishReason, ResponseMessage, Role};
/// let mut message = ResponseMessage::default();
/// message.role = Some(Role::Assistant);
/// message.content = Some("hi".to_owned());
/// let mut choice = ChatChoice::default();
/// choice.message = message;
/// choice.finish_reason = Some(FinishReason::Stop);
/// let mut response = ChatResponse::default();
/// response.model = Some("my-model".to_owned());
/// response.choices.push(choice);
/// assert_eq!(response.content(), Some("hi"));
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The completion's id.
    pub id: Option<String>,
    /// `chat.completion`.
    pub object: Option<String>,
    /// Unix seconds.
    pub created: Option<u64>,
    /// The model that answered.
    pub model: Option<String>,
    /// The choices (one unless `n` was set).
    pub choices: Vec<ChatChoice>,
    /// Token counts. Boxed like [`ChatChunk::usage`]: inline it would double the size of
    /// the answer, which is moved through every layer of a call.
    pub usage: Option<Box<Usage>>,
    /// Backend configuration fingerprint.
    pub system_fingerprint: Option<String>,
    /// The service tier that served the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Any other field the gateway sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The answer's status and headers.
    #[serde(skip)]
    pub metadata: ResponseMetadata,
}

deserialize_lenient!(ChatResponse {
    id,
    object,
    created: LenientU64,
    model,
    choices: NullAsDefault<_>,
    usage,
    system_fingerprint,
    service_tier,
});

impl ChatResponse {
    /// The first choice's text, if any.
    pub fn content(&self) -> Option<&str> {
        self.choices.first()?.message.content.as_deref()
    }

    /// The first choice's tool calls (empty when none).
    pub fn tool_calls(&self) -> &[ToolCall] {
        self.choices
            .first()
            .and_then(|choice| choice.message.tool_calls.as_deref())
            .unwrap_or(&[])
    }
}

/// One choice of a chat answer.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct ChatChoice {
    /// Position among the choices.
    pub index: u32,
    /// The message.
    pub message: ResponseMessage,
    /// Why generation stopped (`""` decodes as `None`).
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, when asked for.
    pub logprobs: Option<Value>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_lenient!(ChatChoice {
    index: LenientU32,
    message: NullAsDefault<_>,
    finish_reason: EmptyAsNone<_>,
    logprobs,
});

/// The model's message in an answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ResponseMessage {
    /// Normally `assistant`.
    pub role: Option<Role>,
    /// The text.
    pub content: Option<String>,
    /// Tool calls.
    pub tool_calls: Option<Vec<ToolCall>>,
    /// A refusal explanation.
    pub refusal: Option<String>,
    /// Reasoning text, where the gateway exposes it.
    pub reasoning_content: Option<String>,
    /// Citations and other annotations of the text (web search results …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Value>>,
    /// Audio output, for audio-capable models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<Value>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_lenient!(ResponseMessage {
    role,
    content,
    tool_calls,
    refusal,
    reasoning_content,
    annotations,
    audio,
});

/// One chunk of a streamed chat answer.
///
/// Read the fields every chunk of a stream repeats with [`id`](ChatChunk::id),
/// [`model`](ChatChunk::model) and the like. A provider that makes chunks starts from
/// [`ChatChunk::new`] (or `Default`, or JSON) and sets the fields it has.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct ChatChunk {
    /// The id, object, model, fingerprint and tier: the same on every chunk of a stream,
    /// so its chunks share one copy. An internal of the decoders, hidden from the docs;
    /// read them with [`id`](ChatChunk::id) and the like.
    #[doc(hidden)]
    #[serde(flatten)]
    pub header: Arc<ChunkHeader>,
    /// Unix seconds.
    pub created: Option<u64>,
    /// The deltas (empty on a usage-only chunk).
    pub choices: Vec<ChunkChoice>,
    /// Usage, on the last chunk when `include_usage` was asked. Boxed: it comes once per
    /// stream, and an inline `Usage` would triple the size of every chunk.
    pub usage: Option<Box<Usage>>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The strings every chunk of one stream repeats, kept once and shared by its chunks.
///
/// Hidden from the docs: a performance internal of the stream decoders, public only for
/// the workspace's own providers (another crate). Read the values through the accessors of
/// [`ChatChunk`].
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChunkHeader {
    /// The completion's id.
    pub id: Option<String>,
    /// `chat.completion.chunk`.
    pub object: Option<String>,
    /// The model.
    pub model: Option<String>,
    /// Backend configuration fingerprint.
    pub system_fingerprint: Option<String>,
    /// The service tier that served the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
}

impl ChunkHeader {
    /// A header with these strings (no fingerprint, no tier).
    pub fn new(id: Option<String>, object: Option<String>, model: Option<String>) -> ChunkHeader {
        ChunkHeader {
            id,
            object,
            model,
            system_fingerprint: None,
            service_tier: None,
        }
    }
}

impl ChatChunk {
    /// An empty chunk (no choices, no usage) of the completion `id` by `model`, with
    /// object `chat.completion.chunk`: set its `choices` (and `usage`) next.
    ///
    /// ```
    /// use mishika_core::chat::{ChatChunk, ChunkChoice};
    /// let mut choice = ChunkChoice::default();
    /// choice.delta.content = Some("Hel".to_owned());
    /// let mut chunk = ChatChunk::new("chatcmpl-1", "my-model");
    /// chunk.choices.push(choice);
    /// assert_eq!((chunk.id(), chunk.model()), (Some("chatcmpl-1"), Some("my-model")));
    /// assert_eq!(chunk.object(), Some("chat.completion.chunk"));
    /// assert_eq!(chunk.content(), Some("Hel"));
    /// ```
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> ChatChunk {
        ChatChunk::with_header(Arc::new(ChunkHeader::new(
            Some(id.into()),
            Some("chat.completion.chunk".to_owned()),
            Some(model.into()),
        )))
    }

    /// An empty chunk sharing `header` with the other chunks of its stream.
    #[doc(hidden)]
    pub fn with_header(header: Arc<ChunkHeader>) -> ChatChunk {
        ChatChunk {
            header,
            created: None,
            choices: Vec::new(),
            usage: None,
            extra: Map::new(),
        }
    }

    /// The completion's id.
    pub fn id(&self) -> Option<&str> {
        self.header.id.as_deref()
    }

    /// The object type, `chat.completion.chunk`.
    pub fn object(&self) -> Option<&str> {
        self.header.object.as_deref()
    }

    /// The model that answered.
    pub fn model(&self) -> Option<&str> {
        self.header.model.as_deref()
    }

    /// The backend configuration fingerprint.
    pub fn system_fingerprint(&self) -> Option<&str> {
        self.header.system_fingerprint.as_deref()
    }

    /// The service tier that served the call.
    pub fn service_tier(&self) -> Option<&str> {
        self.header.service_tier.as_deref()
    }

    /// The first choice's text delta, if any.
    pub fn content(&self) -> Option<&str> {
        self.choices.first()?.delta.content.as_deref()
    }
}

/// One choice's delta in a chunk.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct ChunkChoice {
    /// Which choice this delta extends.
    pub index: u32,
    /// What was added.
    pub delta: ChatDelta,
    /// Set on the choice's last chunk.
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities.
    pub logprobs: Option<Value>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_lenient!(ChunkChoice {
    index: LenientU32,
    delta: NullAsDefault<_>,
    finish_reason: EmptyAsNone<_>,
    logprobs,
});

/// What a chunk adds to a choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ChatDelta {
    /// Set on the first chunk.
    pub role: Option<Role>,
    /// More text.
    pub content: Option<String>,
    /// Pieces of tool calls.
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// More refusal text.
    pub refusal: Option<String>,
    /// More reasoning text.
    pub reasoning_content: Option<String>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_lenient!(ChatDelta {
    role,
    content,
    tool_calls,
    refusal,
    reasoning_content,
});

/// A piece of a streamed tool call; pieces with the same `index` make one call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCallDelta {
    /// Which call this piece extends.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub index: u32,
    /// The call's id (first piece).
    #[serde(default)]
    pub id: Option<String>,
    /// `function` (first piece).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Name (first piece) and a slice of the arguments.
    #[serde(default)]
    pub function: Option<FunctionCallDelta>,
}

/// A slice of a streamed function call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionCallDelta {
    /// The function's name.
    #[serde(default)]
    pub name: Option<String>,
    /// More argument text.
    #[serde(default)]
    pub arguments: Option<String>,
}

impl FunctionCallDelta {
    /// A slice with this name (first piece) and argument text.
    pub fn new(name: Option<String>, arguments: Option<String>) -> FunctionCallDelta {
        FunctionCallDelta { name, arguments }
    }
}

/// Folds streamed chunks into the [`ChatResponse`] a plain call would have returned:
/// content and reasoning concatenated, tool calls assembled by index, usage kept.
///
/// ```
/// use mishika_core::chat::{ChatChunk, ChatStreamAccumulator};
/// let mut acc = ChatStreamAccumulator::default();
/// for frame in [r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
///               r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#] {
///     acc.push(&serde_json::from_str::<ChatChunk>(frame).unwrap());
/// }
/// assert_eq!(acc.finish().content(), Some("Hello"));
/// ```
///
/// Each chunk costs time in proportion to its own size, however many distinct choice or
/// tool-call indices the stream has used: both are found through maps, not by searching.
#[derive(Debug, Default)]
pub struct ChatStreamAccumulator {
    response: ChatResponse,
    /// Where each choice index sits in `response.choices`.
    choice_positions: std::collections::HashMap<u32, usize>,
    /// Tool calls by (choice index, call index), in order of first appearance.
    tool_calls: Vec<((u32, u32), ToolCall)>,
    /// Where each (choice index, call index) sits in `tool_calls`.
    tool_positions: std::collections::HashMap<(u32, u32), usize>,
}

impl ChatStreamAccumulator {
    /// Fold one chunk in.
    pub fn push(&mut self, chunk: &ChatChunk) {
        let response = &mut self.response;
        if response.id.is_none() {
            response.id = chunk.id().map(str::to_owned);
            response.model = chunk.model().map(str::to_owned);
            response.created = chunk.created;
            response.object = Some("chat.completion".to_owned());
        }
        if chunk.usage.is_some() {
            response.usage.clone_from(&chunk.usage);
        }
        if let Some(fingerprint) = chunk.system_fingerprint() {
            response.system_fingerprint = Some(fingerprint.to_owned());
        }
        for delta_choice in &chunk.choices {
            let position = match response.choices.last() {
                // The usual stream has one choice: no map lookup for it.
                Some(last) if last.index == delta_choice.index => response.choices.len() - 1,
                _ => *self
                    .choice_positions
                    .entry(delta_choice.index)
                    .or_insert_with(|| {
                        response.choices.push(ChatChoice {
                            index: delta_choice.index,
                            ..ChatChoice::default()
                        });
                        response.choices.len() - 1
                    }),
            };
            let choice = &mut response.choices[position];
            let delta = &delta_choice.delta;
            if let Some(role) = &delta.role {
                choice.message.role = Some(role.clone());
            }
            append(&mut choice.message.content, delta.content.as_deref());
            append(&mut choice.message.refusal, delta.refusal.as_deref());
            append(
                &mut choice.message.reasoning_content,
                delta.reasoning_content.as_deref(),
            );
            for piece in delta.tool_calls.iter().flatten() {
                // Keyed by the server's index, never used as a Vec position: a huge or
                // sparse index costs one entry, not a padded vector.
                let key = (delta_choice.index, piece.index);
                let tool_calls = &mut self.tool_calls;
                let position = match tool_calls.last() {
                    Some((last, _)) if *last == key => tool_calls.len() - 1,
                    _ => *self.tool_positions.entry(key).or_insert_with(|| {
                        tool_calls.push((
                            key,
                            ToolCall {
                                id: String::new(),
                                kind: function_kind(),
                                function: FunctionCall::default(),
                            },
                        ));
                        tool_calls.len() - 1
                    }),
                };
                let call = &mut tool_calls[position].1;
                if let Some(id) = &piece.id {
                    call.id.clone_from(id);
                }
                if let Some(kind) = &piece.kind {
                    call.kind.clone_from(kind);
                }
                if let Some(function) = &piece.function {
                    if let Some(name) = &function.name {
                        call.function.name.push_str(name);
                    }
                    if let Some(arguments) = &function.arguments {
                        call.function.arguments.push_str(arguments);
                    }
                }
            }
            if delta_choice.finish_reason.is_some() {
                choice.finish_reason.clone_from(&delta_choice.finish_reason);
            }
        }
    }

    /// The assembled answer.
    pub fn finish(mut self) -> ChatResponse {
        self.tool_calls.sort_by_key(|(key, _)| *key);
        for ((choice_index, _), call) in self.tool_calls {
            let position = match self.response.choices.last() {
                Some(last) if last.index == choice_index => self.response.choices.len() - 1,
                _ => match self.choice_positions.get(&choice_index) {
                    Some(position) => *position,
                    None => continue,
                },
            };
            if let Some(choice) = self.response.choices.get_mut(position) {
                choice
                    .message
                    .tool_calls
                    .get_or_insert_with(Vec::new)
                    .push(call);
            }
        }
        self.response
    }
}

fn append(target: &mut Option<String>, piece: Option<&str>) {
    if let Some(piece) = piece {
        target.get_or_insert_with(String::new).push_str(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_serialises_every_field_and_extra() {
        let request = ChatRequest::new(
            "gpt-4o",
            [
                ChatMessage::system("be brief"),
                ChatMessage::user(vec![
                    ContentPart::text("what is this?"),
                    ContentPart::image_url("data:image/png;base64,AAAA"),
                ]),
                ChatMessage::assistant_tool_calls(vec![ToolCall {
                    id: "call_1".into(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: "look".into(),
                        arguments: "{}".into(),
                    },
                }]),
                ChatMessage::tool("call_1", "a cat"),
            ],
        )
        .temperature(0.5)
        .top_p(0.9)
        .max_tokens(10)
        .max_completion_tokens(20)
        .stop(vec!["\n", "END"])
        .n(2)
        .seed(7)
        .user("u1")
        .tools([Tool::function("look", "Look", json!({"type": "object"}))])
        .tool_choice(ToolChoice::Function("look".into()))
        .response_format(ResponseFormat::json_schema(
            "answer",
            json!({"type":"object"}),
        ))
        .include_usage(true)
        .extra("metadata", json!({"tag": 1}))
        .api_key("sk-never-serialised");
        let value: Value = serde_json::from_slice(&serde_json::to_vec(&request).unwrap()).unwrap();
        assert_eq!(
            value,
            json!({
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                    ]},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}
                    ]},
                    {"role": "tool", "content": "a cat", "tool_call_id": "call_1"}
                ],
                "temperature": 0.5,
                "top_p": 0.9,
                "max_tokens": 10,
                "max_completion_tokens": 20,
                "stop": ["\n", "END"],
                "n": 2,
                "seed": 7,
                "user": "u1",
                "tools": [{"type": "function", "function": {"name": "look", "description": "Look", "parameters": {"type": "object"}}}],
                "tool_choice": {"type": "function", "function": {"name": "look"}},
                "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}},
                "stream_options": {"include_usage": true},
                "metadata": {"tag": 1}
            })
        );
        assert!(!format!("{request:?}").contains("sk-never"));
    }

    #[test]
    fn response_decodes_leniently() {
        let body = r#"{
            "id": "x", "object": null, "created": 1, "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi", "tool_calls": null, "audio": null}, "finish_reason": ""},
                {"index": 1, "message": {"role": "critic", "content": null}, "finish_reason": "eos_token"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "cost": 0.5},
            "service_tier": "default",
            "provider_specific": {"a": [1, 2]}
        }"#;
        let response: ChatResponse = serde_json::from_str(body).unwrap();
        assert_eq!(response.content(), Some("hi"));
        assert_eq!(response.object, None);
        assert_eq!(response.choices[0].finish_reason, None);
        assert_eq!(response.choices[0].message.audio, None);
        assert_eq!(
            response.choices[1].message.role,
            Some(Role::Other("critic".into()))
        );
        assert_eq!(
            response.choices[1].finish_reason,
            Some(FinishReason::Other("eos_token".into()))
        );
        assert_eq!(response.service_tier.as_deref(), Some("default"));
        assert_eq!(response.extra["provider_specific"], json!({"a": [1, 2]}));
        let usage = response.usage.unwrap();
        assert_eq!(usage.total_tokens, Some(3));
        assert_eq!(usage.extra["cost"], json!(0.5));

        let sparse: ChatResponse = serde_json::from_str(r#"{"choices": null}"#).unwrap();
        assert!(sparse.choices.is_empty());
        let sparse: ChatResponse = serde_json::from_str(r#"{"choices": [{}]}"#).unwrap();
        assert_eq!(sparse.choices[0].message, ResponseMessage::default());
    }

    #[test]
    fn accumulator_assembles_tool_calls() {
        let frames = [
            r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"loc"}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ation\":\"Paris\"}"}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
        ];
        let mut acc = ChatStreamAccumulator::default();
        for frame in frames {
            acc.push(&serde_json::from_str(frame).unwrap());
        }
        let response = acc.finish();
        assert_eq!(response.id.as_deref(), Some("c1"));
        let call = &response.tool_calls()[0];
        assert_eq!(call.id, "call_a");
        assert_eq!(call.function.name, "get_weather");
        assert_eq!(call.function.arguments, r#"{"location":"Paris"}"#);
        assert_eq!(
            response.choices[0].finish_reason,
            Some(FinishReason::ToolCalls)
        );
        assert_eq!(response.usage.unwrap().total_tokens, Some(7));
    }

    #[test]
    fn a_huge_tool_call_index_costs_one_entry() {
        let mut acc = ChatStreamAccumulator::default();
        for frame in [
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":4294967295,"id":"z","function":{"name":"last","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":10000000,"function":{"arguments":"x"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":10000000,"function":{"arguments":"y"}}]}}]}"#,
        ] {
            acc.push(&serde_json::from_str(frame).unwrap());
        }
        let response = acc.finish();
        let calls = response.tool_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].function.arguments, "xy");
        assert_eq!(calls[1].function.name, "last");
    }

    /// Choices and tool calls are found through index maps, never by a search through all
    /// seen so far: each map holds every index once, pointing at its entry.
    #[test]
    fn the_accumulator_finds_choices_and_tool_calls_by_map() {
        let mut acc = ChatStreamAccumulator::default();
        for index in (0..1000u32).rev() {
            let frame = json!({"choices": [{"index": index, "delta": {"content": "c",
                "tool_calls": [{"index": index % 3, "id": format!("t{index}")}]}}]});
            acc.push(&serde_json::from_value(frame).unwrap());
        }
        assert_eq!(acc.choice_positions.len(), 1000);
        for (index, position) in &acc.choice_positions {
            assert_eq!(acc.response.choices[*position].index, *index);
        }
        assert_eq!(acc.tool_positions.len(), 1000);
        for (key, position) in &acc.tool_positions {
            assert_eq!(acc.tool_calls[*position].0, *key);
        }
        let response = acc.finish();
        assert_eq!(response.choices[0].index, 999);
        let calls = response.choices[0].message.tool_calls.as_deref().unwrap();
        assert_eq!(calls[0].id, "t999");
    }

    #[test]
    fn tool_calls_and_numbers_decode_leniently() {
        for body in [
            r#"{"choices":[{"message":{"tool_calls":[{"id":null,"type":null,"function":{"name":"f","arguments":null}}]}}]}"#,
            r#"{"choices":[{"message":{"tool_calls":[{"id":"c","function":null}]}}]}"#,
            r#"{"choices":[{"message":{"tool_calls":[{"id":"c"}]}}]}"#,
        ] {
            let response: ChatResponse = serde_json::from_str(body).unwrap();
            assert_eq!(response.tool_calls()[0].kind, "function", "{body}");
        }
        let response: ChatResponse = serde_json::from_str(
            r#"{"created":1700000000.5,"choices":[{"index":"1","message":{}}],"usage":{"prompt_tokens":2.0,"completion_tokens":-1,"total_tokens":"3"}}"#,
        )
        .unwrap();
        assert_eq!(response.created, Some(1_700_000_000));
        assert_eq!(response.choices[0].index, 1);
        let usage = response.usage.unwrap();
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (Some(2), None, Some(3))
        );
        assert!(
            serde_json::from_str::<ChatResponse>(r#"{"choices":[{"index":99999999999}]}"#).is_err()
        );
    }
}
