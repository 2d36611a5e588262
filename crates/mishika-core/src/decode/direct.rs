//! Direct readers for the hottest answers: streamed chat chunks, chat answers and
//! embeddings.
//!
//! serde's visitor machinery costs more than the bytes of a ~300-byte chunk are worth, and
//! more than the digits of an embedding's 1536 numbers, so the tokens these answers are
//! made of (object keys, strings without escapes, `null`, plain integers, the numbers of
//! a vector) are read here in one pass over the text. Anything else at a value
//! position (escaped strings, floats, tool calls, unknown fields) is handed to serde_json
//! from that position with the very type the serde path uses, so both paths decode every
//! answer alike. When the text is not well-formed JSON, or is shaped in a way these
//! readers do not follow, they give up (`None`) and the caller decodes it with serde,
//! which also words the error.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::chunk::{ChunkParts, ChunkStrings, HeaderText};

/// Names every field of a type a reader below fills, right after the reader's match on the
/// keys: adding a field to the type (and so to its serde form) stops the build here until
/// the reader reads it too, so the two cannot drift apart. Costs nothing at run time.
macro_rules! reads_every_field {
    ($value:expr => $type:ident { $($field:ident),* $(,)? }) => {
        let $type { $($field: _),* } = &$value;
    };
    // A type the reader does not hold a value of: checked in a closure never called.
    ($type:ident { $($field:ident),* $(,)? }) => {
        let _ = |value: &$type| {
            let $type { $($field: _),* } = value;
        };
    };
}
use crate::chat::{
    ChatChoice, ChatChunk, ChatDelta, ChatResponse, ChunkChoice, ChunkHeader, FinishReason,
    ResponseMessage, Role, TokenDetails, ToolCall, Usage,
};
use crate::embeddings::{Embedding, EmbeddingResponse, decode_base64_f32};
use crate::wire::{EmptyAsNone, LenientU32, LenientU64, NullAsDefault};

/// Decode `text` (one chunk's JSON) without serde's visitors, or `None` to let serde do it.
pub(crate) fn chunk(strings: &mut ChunkStrings, text: &str) -> Option<ChatChunk> {
    let mut reader = Reader { text, pos: 0 };
    let mut chunk = ChunkParts::default();
    let mut header = HeaderText::default();
    reader.object(|reader, key| {
        match key {
            "id" => header.id = reader.text_or_null()?,
            "object" => header.object = reader.text_or_null()?,
            "model" => header.model = reader.text_or_null()?,
            "system_fingerprint" => header.system_fingerprint = reader.text_or_null()?,
            "service_tier" => header.service_tier = reader.text_or_null()?,
            "created" => chunk.created = reader.count()?,
            "choices" => chunk.choices = reader.list(Reader::chunk_choice)?,
            "usage" => chunk.usage = reader.usage()?,
            "obfuscation" => {
                if reader.text_or_null().is_none() {
                    reader.serde::<serde::de::IgnoredAny>()?;
                }
            }
            _ => reader.keep(&mut chunk.extra, key)?,
        }
        Some(())
    })?;
    reader.end()?;
    let ChunkParts {
        created: _,
        choices: _,
        usage: _,
        extra: _,
    } = &chunk;
    let HeaderText {
        id: _,
        object: _,
        model: _,
        system_fingerprint: _,
        service_tier: _,
    } = &header;
    reads_every_field!(ChatChunk {
        header,
        created,
        choices,
        usage,
        extra
    });
    reads_every_field!(ChunkHeader {
        id,
        object,
        model,
        system_fingerprint,
        service_tier
    });
    Some(chunk.into_chunk(strings.header(header)))
}

/// Decode `text` (a chat answer's JSON) without serde's visitors, or `None` for serde.
pub(crate) fn response(text: &str) -> Option<ChatResponse> {
    let mut reader = Reader { text, pos: 0 };
    let mut response = ChatResponse::default();
    reader.object(|reader, key| {
        match key {
            "id" => response.id = reader.string_or_null()?,
            "object" => response.object = reader.string_or_null()?,
            "created" => response.created = reader.count()?,
            "model" => response.model = reader.string_or_null()?,
            "choices" => response.choices = reader.list(Reader::answer_choice)?,
            "usage" => response.usage = reader.usage()?,
            "system_fingerprint" => response.system_fingerprint = reader.string_or_null()?,
            "service_tier" => response.service_tier = reader.string_or_null()?,
            _ => reader.keep(&mut response.extra, key)?,
        }
        Some(())
    })?;
    reader.end()?;
    // `metadata` comes from the answer's head, not its body.
    reads_every_field!(response => ChatResponse {
        id, object, created, model, choices, usage, system_fingerprint, service_tier, extra, metadata
    });
    Some(response)
}

/// Decode `text` (an embeddings answer's JSON) without serde's visitors, or `None`.
pub(crate) fn embeddings(text: &str) -> Option<EmbeddingResponse> {
    let mut reader = Reader { text, pos: 0 };
    let mut response = EmbeddingResponse::default();
    let mut seen = [false; 4];
    reader.object(|reader, key| {
        let field = match key {
            "object" => 0,
            "data" => 1,
            "model" => 2,
            "usage" => 3,
            _ => return reader.keep(&mut response.extra, key),
        };
        // These answers are read by serde's derive, which refuses a repeated field.
        if std::mem::replace(&mut seen[field], true) {
            return None;
        }
        match field {
            0 => response.object = reader.string_or_null()?,
            1 => response.data = reader.list(Reader::embedding)?,
            2 => response.model = reader.string_or_null()?,
            _ => response.usage = reader.optional()?,
        }
        Some(())
    })?;
    reader.end()?;
    reads_every_field!(response => EmbeddingResponse { object, data, model, usage, extra, metadata });
    Some(response)
}

/// Powers of ten as `f64` literals, the very table serde_json divides and multiplies by.
const POW10: [f64; 309] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32,
    1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47, 1e48,
    1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59, 1e60, 1e61, 1e62, 1e63, 1e64,
    1e65, 1e66, 1e67, 1e68, 1e69, 1e70, 1e71, 1e72, 1e73, 1e74, 1e75, 1e76, 1e77, 1e78, 1e79, 1e80,
    1e81, 1e82, 1e83, 1e84, 1e85, 1e86, 1e87, 1e88, 1e89, 1e90, 1e91, 1e92, 1e93, 1e94, 1e95, 1e96,
    1e97, 1e98, 1e99, 1e100, 1e101, 1e102, 1e103, 1e104, 1e105, 1e106, 1e107, 1e108, 1e109, 1e110,
    1e111, 1e112, 1e113, 1e114, 1e115, 1e116, 1e117, 1e118, 1e119, 1e120, 1e121, 1e122, 1e123,
    1e124, 1e125, 1e126, 1e127, 1e128, 1e129, 1e130, 1e131, 1e132, 1e133, 1e134, 1e135, 1e136,
    1e137, 1e138, 1e139, 1e140, 1e141, 1e142, 1e143, 1e144, 1e145, 1e146, 1e147, 1e148, 1e149,
    1e150, 1e151, 1e152, 1e153, 1e154, 1e155, 1e156, 1e157, 1e158, 1e159, 1e160, 1e161, 1e162,
    1e163, 1e164, 1e165, 1e166, 1e167, 1e168, 1e169, 1e170, 1e171, 1e172, 1e173, 1e174, 1e175,
    1e176, 1e177, 1e178, 1e179, 1e180, 1e181, 1e182, 1e183, 1e184, 1e185, 1e186, 1e187, 1e188,
    1e189, 1e190, 1e191, 1e192, 1e193, 1e194, 1e195, 1e196, 1e197, 1e198, 1e199, 1e200, 1e201,
    1e202, 1e203, 1e204, 1e205, 1e206, 1e207, 1e208, 1e209, 1e210, 1e211, 1e212, 1e213, 1e214,
    1e215, 1e216, 1e217, 1e218, 1e219, 1e220, 1e221, 1e222, 1e223, 1e224, 1e225, 1e226, 1e227,
    1e228, 1e229, 1e230, 1e231, 1e232, 1e233, 1e234, 1e235, 1e236, 1e237, 1e238, 1e239, 1e240,
    1e241, 1e242, 1e243, 1e244, 1e245, 1e246, 1e247, 1e248, 1e249, 1e250, 1e251, 1e252, 1e253,
    1e254, 1e255, 1e256, 1e257, 1e258, 1e259, 1e260, 1e261, 1e262, 1e263, 1e264, 1e265, 1e266,
    1e267, 1e268, 1e269, 1e270, 1e271, 1e272, 1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279,
    1e280, 1e281, 1e282, 1e283, 1e284, 1e285, 1e286, 1e287, 1e288, 1e289, 1e290, 1e291, 1e292,
    1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299, 1e300, 1e301, 1e302, 1e303, 1e304, 1e305,
    1e306, 1e307, 1e308,
];

/// Below this, eight more digits cannot overflow a `u64`.
const EIGHT_MORE_FIT: u64 = (u64::MAX - 99_999_999) / 100_000_000;

/// Add the digits from `at` on to `significand` (eight at a time where they surely fit),
/// as serde_json does: up to the first digit that would overflow a `u64`. Returns the
/// position after the digits taken, how many were taken, and whether one would have
/// overflowed (the digits from there on are not taken).
fn read_digits(bytes: &[u8], mut at: usize, significand: &mut u64) -> (usize, i32, bool) {
    let start = at;
    while *significand <= EIGHT_MORE_FIT {
        let Some(eight) = eight_digits(bytes, at) else {
            break;
        };
        *significand = *significand * 100_000_000 + eight;
        at += 8;
    }
    while let Some(value) = digit(bytes, at) {
        let Some(next) = significand
            .checked_mul(10)
            .and_then(|n| n.checked_add(value))
        else {
            return (at, digits_between(start, at), true);
        };
        *significand = next;
        at += 1;
    }
    (at, digits_between(start, at), false)
}

/// How many digits lie between two positions of one number (a handful: it fits).
fn digits_between(start: usize, end: usize) -> i32 {
    i32::try_from(end - start).unwrap_or(i32::MAX)
}

/// The value of the eight bytes at `at` when all are ASCII digits (the word-at-a-time
/// conversion of fast_float and Rust's own float parser).
fn eight_digits(bytes: &[u8], at: usize) -> Option<u64> {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes.get(at..at + 8)?);
    let word = u64::from_le_bytes(word);
    let above = word.wrapping_add(0x4646_4646_4646_4646);
    let below = word.wrapping_sub(0x3030_3030_3030_3030);
    if (above | below) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 0x000F_4240_0000_0064;
    const MUL2: u64 = 0x0000_2710_0000_0001;
    let pairs = below.wrapping_mul(10).wrapping_add(below >> 8);
    let value = ((pairs & MASK).wrapping_mul(MUL1))
        .wrapping_add(((pairs >> 16) & MASK).wrapping_mul(MUL2))
        >> 32;
    Some(value)
}

/// The digit at `at`, if it is one.
fn digit(bytes: &[u8], at: usize) -> Option<u64> {
    let value = bytes.get(at)?.wrapping_sub(b'0');
    (value < 10).then_some(u64::from(value))
}

/// Where the first `"`, `\\` or control character at or after `from` is, eight bytes at a
/// time (the byte-wise loop was half the cost of a chunk).
fn special_byte(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // High bit set in each byte of `word` that is zero (exact for the lowest such byte).
    let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let found = zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    let offset = rest
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
    Some(at + offset)
}

/// A position in one frame's text. Every method returns `None` where the text is not
/// what it reads, leaving the decision to serde.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not JSON whitespace, without taking it.
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&byte) = bytes.get(self.pos) {
            // Tokens are above the space; whitespace and invalid bytes are at or below it.
            if byte > b' ' || !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.pos += 1;
        }
        None
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Only whitespace is left.
    fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// Take a `null` if one is next.
    fn null(&mut self) -> bool {
        if self.peek() == Some(b'n') && self.bytes()[self.pos..].starts_with(b"null") {
            self.pos += 4;
            return true;
        }
        false
    }

    /// A string: borrowed when it has no escapes, else decoded by serde_json.
    fn text(&mut self) -> Option<Cow<'a, str>> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos + 1;
        let bytes = self.bytes();
        let mut at = start;
        let mut escaped = false;
        loop {
            at = special_byte(bytes, at)?;
            match bytes[at] {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    at += 2;
                }
                // Raw control characters are not allowed in a JSON string.
                _ => return None,
            }
        }
        let text = if escaped {
            Cow::Owned(serde_json::from_str::<String>(self.text.get(start - 1..at + 1)?).ok()?)
        } else {
            Cow::Borrowed(self.text.get(start..at)?)
        };
        self.pos = at + 1;
        Some(text)
    }

    /// `null` as `None`, a string as `Some`; `None` outright for anything else.
    fn text_or_null(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.null() {
            Some(None)
        } else {
            self.text().map(Some)
        }
    }

    /// The next value, read by serde_json as a `T`.
    fn serde<T: DeserializeOwned>(&mut self) -> Option<T> {
        let rest = self.text.get(self.pos..)?;
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<T>();
        let value = values.next()?.ok()?;
        self.pos += values.byte_offset();
        Some(value)
    }

    /// A plain non-negative integer, read here; any other number (or form) read as
    /// serde's lenient count.
    fn count(&mut self) -> Option<Option<u64>> {
        let start = self.pos;
        if let Some(value) = self.plain_integer() {
            return Some(Some(value));
        }
        self.pos = start;
        Some(self.serde::<LenientU64>()?.0)
    }

    fn index(&mut self) -> Option<u32> {
        let start = self.pos;
        if let Some(value) = self.plain_integer().and_then(|v| u32::try_from(v).ok()) {
            return Some(value);
        }
        self.pos = start;
        Some(self.serde::<LenientU32>()?.0)
    }

    /// Digits that end where a JSON number must end; `None` for fractions, exponents,
    /// signs, leading zeros and anything past `u64`.
    fn plain_integer(&mut self) -> Option<u64> {
        self.peek()?;
        let bytes = self.bytes();
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(digit) = bytes.get(self.pos).filter(|b| b.is_ascii_digit()) {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        let leading_zero = digits > 1 && bytes[start] == b'0';
        let continues = matches!(bytes.get(self.pos), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !continues).then_some(value)
    }

    /// An object, calling `field` for each key with the reader at its value.
    fn object(&mut self, mut field: impl FnMut(&mut Reader<'a>, &str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.text()?;
            self.eat(b':')?;
            field(self, &key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A list whose `null` is empty: objects read by `item`, anything else by serde.
    fn list<T: DeserializeOwned>(
        &mut self,
        mut item: impl FnMut(&mut Reader<'a>) -> Option<T>,
    ) -> Option<Vec<T>> {
        if self.null() {
            return Some(Vec::new());
        }
        self.eat(b'[')?;
        let mut items = Vec::with_capacity(1);
        if self.eat(b']').is_some() {
            return Some(items);
        }
        loop {
            items.push(if self.peek()? == b'{' {
                item(self)?
            } else {
                self.serde::<T>()?
            });
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(items);
                }
                _ => return None,
            }
        }
    }

    fn chunk_choice(&mut self) -> Option<ChunkChoice> {
        let mut choice = ChunkChoice::default();
        self.object(|reader, key| {
            match key {
                "index" => choice.index = reader.index()?,
                "delta" => choice.delta = reader.nested(Reader::delta)?,
                "finish_reason" => choice.finish_reason = reader.finish_reason()?,
                "logprobs" => choice.logprobs = reader.optional()?,
                _ => reader.keep(&mut choice.extra, key)?,
            }
            Some(())
        })?;
        reads_every_field!(choice => ChunkChoice { index, delta, finish_reason, logprobs, extra });
        Some(choice)
    }

    fn delta(&mut self) -> Option<ChatDelta> {
        let mut delta = ChatDelta::default();
        self.object(|reader, key| {
            match key {
                "content" => delta.content = reader.string_or_null()?,
                "role" => delta.role = reader.text_or_null()?.map(|text| Role::from(&*text)),
                "refusal" => delta.refusal = reader.string_or_null()?,
                "reasoning_content" => delta.reasoning_content = reader.string_or_null()?,
                "tool_calls" => delta.tool_calls = reader.optional()?,
                _ => reader.keep(&mut delta.extra, key)?,
            }
            Some(())
        })?;
        reads_every_field!(delta => ChatDelta { content, role, refusal, reasoning_content, tool_calls, extra });
        Some(delta)
    }

    fn answer_choice(&mut self) -> Option<ChatChoice> {
        let mut choice = ChatChoice::default();
        self.object(|reader, key| {
            match key {
                "index" => choice.index = reader.index()?,
                "message" => choice.message = reader.nested(Reader::message)?,
                "finish_reason" => choice.finish_reason = reader.finish_reason()?,
                "logprobs" => choice.logprobs = reader.optional()?,
                _ => reader.keep(&mut choice.extra, key)?,
            }
            Some(())
        })?;
        reads_every_field!(choice => ChatChoice { index, message, finish_reason, logprobs, extra });
        Some(choice)
    }

    fn message(&mut self) -> Option<ResponseMessage> {
        let mut message = ResponseMessage::default();
        self.object(|reader, key| {
            match key {
                "content" => message.content = reader.string_or_null()?,
                "role" => message.role = reader.text_or_null()?.map(|text| Role::from(&*text)),
                "refusal" => message.refusal = reader.string_or_null()?,
                "reasoning_content" => message.reasoning_content = reader.string_or_null()?,
                "tool_calls" => message.tool_calls = reader.optional::<Vec<ToolCall>>()?,
                "annotations" => message.annotations = reader.optional()?,
                "audio" => message.audio = reader.optional()?,
                _ => reader.keep(&mut message.extra, key)?,
            }
            Some(())
        })?;
        reads_every_field!(message => ResponseMessage {
            content, role, refusal, reasoning_content, tool_calls, annotations, audio, extra
        });
        Some(message)
    }

    /// `usage`: an object read here, anything else as serde reads an optional usage.
    fn usage(&mut self) -> Option<Option<Box<Usage>>> {
        if self.peek()? != b'{' {
            return self.optional();
        }
        let mut usage = Usage::default();
        self.object(|reader, key| {
            match key {
                "prompt_tokens" => usage.prompt_tokens = reader.count()?,
                "completion_tokens" => usage.completion_tokens = reader.count()?,
                "total_tokens" => usage.total_tokens = reader.count()?,
                "prompt_tokens_details" => usage.prompt_tokens_details = reader.token_details()?,
                "completion_tokens_details" => {
                    usage.completion_tokens_details = reader.token_details()?
                }
                _ => reader.keep(&mut usage.extra, key)?,
            }
            Some(())
        })?;
        reads_every_field!(usage => Usage {
            prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details,
            completion_tokens_details, extra
        });
        Some(Some(Box::new(usage)))
    }

    fn token_details(&mut self) -> Option<Option<TokenDetails>> {
        if self.peek()? != b'{' {
            return self.optional();
        }
        let mut details = TokenDetails::default();
        self.object(|reader, key| {
            let count = match key {
                "cached_tokens" => &mut details.cached_tokens,
                "audio_tokens" => &mut details.audio_tokens,
                "text_tokens" => &mut details.text_tokens,
                "image_tokens" => &mut details.image_tokens,
                "reasoning_tokens" => &mut details.reasoning_tokens,
                "accepted_prediction_tokens" => &mut details.accepted_prediction_tokens,
                "rejected_prediction_tokens" => &mut details.rejected_prediction_tokens,
                _ => return reader.keep(&mut details.extra, key),
            };
            *count = reader.count()?;
            Some(())
        })?;
        reads_every_field!(details => TokenDetails {
            cached_tokens, audio_tokens, text_tokens, image_tokens, reasoning_tokens,
            accepted_prediction_tokens, rejected_prediction_tokens, extra
        });
        Some(Some(details))
    }

    /// `finish_reason`: `null` and `""` are absent.
    fn finish_reason(&mut self) -> Option<Option<FinishReason>> {
        match self.text_or_null() {
            Some(text) => Some(
                text.filter(|text| !text.is_empty())
                    .map(|text| FinishReason::from(&*text)),
            ),
            None => Some(self.serde::<EmptyAsNone<FinishReason>>()?.0),
        }
    }

    /// An optional value: `null` read here, anything else by serde.
    fn optional<T: DeserializeOwned>(&mut self) -> Option<Option<T>> {
        if self.null() {
            return Some(None);
        }
        self.serde::<Option<T>>()
    }

    /// An object read by `read`; anything else (`null` as the default) by serde.
    fn nested<T: DeserializeOwned + Default>(
        &mut self,
        read: impl FnOnce(&mut Reader<'a>) -> Option<T>,
    ) -> Option<T> {
        match self.peek()? {
            b'{' => read(self),
            _ => Some(self.serde::<NullAsDefault<T>>()?.0),
        }
    }

    /// Keep the value of a field the type does not name in its `extra` map.
    fn keep(&mut self, extra: &mut Map<String, Value>, key: &str) -> Option<()> {
        let value = self.serde::<Value>()?;
        extra.insert(key.to_owned(), value);
        Some(())
    }

    fn embedding(&mut self) -> Option<Embedding> {
        let mut embedding = Embedding::default();
        let mut seen = [false; 3];
        self.object(|reader, key| {
            let field = match key {
                "index" => 0,
                "embedding" => 1,
                "object" => 2,
                // serde's derive skips fields it does not name.
                _ => return reader.serde::<serde::de::IgnoredAny>().map(drop),
            };
            if std::mem::replace(&mut seen[field], true) {
                return None;
            }
            match field {
                0 => embedding.index = reader.index()?,
                1 => embedding.embedding = reader.vector()?,
                _ => embedding.object = reader.string_or_null()?,
            }
            Some(())
        })?;
        reads_every_field!(embedding => Embedding { index, embedding, object });
        Some(embedding)
    }

    /// A vector: an array of numbers, base64 of little-endian `f32`s, or `null` (empty).
    fn vector(&mut self) -> Option<Vec<f32>> {
        match self.peek()? {
            b'[' => self.floats(),
            b'"' => decode_base64_f32(&self.text()?).ok(),
            _ => self.null().then(Vec::new),
        }
    }

    /// An array of numbers, each as serde_json reads a number into an `f32`.
    fn floats(&mut self) -> Option<Vec<f32>> {
        self.eat(b'[')?;
        // Room for the usual 1536 dimensions, as the serde path reserves.
        let mut numbers = Vec::with_capacity(1536);
        if self.eat(b']').is_some() {
            return Some(numbers);
        }
        loop {
            self.peek()?;
            numbers.push(self.float()?);
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(numbers);
                }
                _ => return None,
            }
        }
    }

    /// One number as serde_json makes an `f32` of it (without its `float_roundtrip`
    /// feature): integers straight from `u64`/`i64`; others as the significand of their
    /// digits (those past a `u64` dropped) divided or multiplied by a power of ten in
    /// `f64`, then narrowed. Integers past a `u64` and powers past 10^308 are left to
    /// serde (`None`).
    fn float(&mut self) -> Option<f32> {
        let bytes = self.bytes();
        let mut at = self.pos;
        let negative = bytes.get(at) == Some(&b'-');
        at += usize::from(negative);
        let mut significand: u64 = 0;
        match bytes.get(at)? {
            b'0' => {
                at += 1;
                if digit(bytes, at).is_some() {
                    return None; // a leading zero: not JSON
                }
            }
            b'1'..=b'9' => {
                let overflowed;
                (at, _, overflowed) = read_digits(bytes, at, &mut significand);
                if overflowed {
                    return None;
                }
            }
            _ => return None,
        }
        let mut exponent: i32 = 0;
        let mut integer = true;
        if bytes.get(at) == Some(&b'.') {
            integer = false;
            let (end, taken, overflowed) = read_digits(bytes, at + 1, &mut significand);
            at = end;
            if overflowed {
                // serde_json drops the digits a u64 cannot hold.
                while digit(bytes, at).is_some() {
                    at += 1;
                }
            }
            if bytes.get(at - 1) == Some(&b'.') {
                return None; // no digit after the point
            }
            exponent = -taken;
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            integer = false;
            at += 1;
            let negative_exponent = bytes.get(at) == Some(&b'-');
            at += usize::from(matches!(bytes.get(at), Some(b'-' | b'+')));
            let start = at;
            let mut power: i32 = 0;
            while let Some(value) = digit(bytes, at) {
                if at - start >= 4 {
                    return None;
                }
                power = power * 10 + value as i32;
                at += 1;
            }
            if at == start {
                return None;
            }
            exponent += if negative_exponent { -power } else { power };
        }
        let value = if integer {
            // serde_json hands integers over as u64 or i64, and -0 (or below i64) as f64.
            if negative {
                let negated = (significand as i64).wrapping_neg();
                if negated >= 0 {
                    -(significand as f64) as f32
                } else {
                    negated as f32
                }
            } else {
                significand as f32
            }
        } else {
            let power = *POW10.get(exponent.unsigned_abs() as usize)?;
            let mut value = significand as f64;
            if exponent >= 0 {
                value *= power;
                if value.is_infinite() {
                    return None; // serde_json: number out of range
                }
            } else {
                value /= power;
            }
            (if negative { -value } else { value }) as f32
        };
        self.pos = at;
        Some(value)
    }

    fn string_or_null(&mut self) -> Option<Option<String>> {
        Some(self.text_or_null()?.map(Cow::into_owned))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What the serde path makes of `text`, as text to compare.
    fn by_serde(text: &str) -> Option<String> {
        serde_json::from_str::<ChatChunk>(text)
            .ok()
            .map(|chunk| format!("{chunk:?}"))
    }

    fn by_reader(text: &str) -> Option<String> {
        super::chunk(&mut ChunkStrings::default(), text).map(|chunk| format!("{chunk:?}"))
    }

    #[test]
    fn real_chunks_take_the_direct_path_and_match_serde() {
        let frames = [
            // OpenAI, with the padding field and explicit nulls.
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1751234567,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Xq7"}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1751234567,"model":"m","choices":[{"index":0,"delta":{"content":" caf\u00e9 \"quoted\"\n"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1751234567,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
            // LiteLLM's proxy: compact, and Python's spacing on some frames.
            r#"{"id":"chatcmpl-mock-8","object":"chat.completion.chunk","created":1795757773,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"}}]}"#,
            r#"{"id": "c", "created": 1, "model": "m", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}}], "usage": {"completion_tokens": 3, "prompt_tokens": 3, "total_tokens": 6, "cost": 0.00042}}"#,
            // Tool calls, an unknown field and a float timestamp go through serde in place.
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]},"provider_specific_fields":{"x":[1,2]}}],"created":1.5e9}"#,
        ];
        for frame in frames {
            let direct = by_reader(frame);
            assert!(direct.is_some(), "not read directly: {frame}");
            assert_eq!(direct, by_serde(frame), "{frame}");
        }
    }

    #[test]
    fn malformed_frames_are_left_to_serde() {
        for frame in [
            "",
            "[]",
            r#"{"id":"a"} x"#,
            r#"{"id":"a",}"#,
            r#"{"id":"a" "model":"b"}"#,
            r#"{"id":1}"#,
            r#"{"created":01}"#,
            r#"{"choices":[{"index":4294967296}]}"#,
            r#"{"choices":[{"delta":{"content":"tab	raw"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\x"}}]}"#,
            r#"{"choices":[{"finish_reason":7}]}"#,
            r#"{"choices":[null]}"#,
            r#"{"usage":[]}"#,
            r#"{"obfuscation":nul}"#,
        ] {
            assert_eq!(by_reader(frame), None, "{frame}");
            assert_eq!(by_serde(frame), None, "{frame}");
        }
    }

    fn spaced(token: impl Into<String>) -> impl Strategy<Value = String> {
        let token = token.into();
        prop_oneof![Just(""), Just(" "), Just("\n\t ")]
            .prop_map(move |space| format!("{space}{token}"))
    }

    fn string_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#""""#.to_owned()),
            Just(r#""plain""#.to_owned()),
            Just(r#""stop""#.to_owned()),
            Just(r#""assistant""#.to_owned()),
            Just(r#""caf\u00e9 \"q\" \\ \/ \n""#.to_owned()),
            Just(r#""\ud83d\ude00""#.to_owned()),
            Just(r#""\ud83d""#.to_owned()),
            Just(r#""bad \q escape""#.to_owned()),
            Just("\"raw\u{1}control\"".to_owned()),
            Just("\"h\u{e9}llo \u{1f600}\"".to_owned()),
            "[a-z ]{0,12}".prop_map(|s| format!("\"{s}\"")),
        ]
    }

    fn scalar_value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => string_value(),
            2 => Just("null".to_owned()),
            1 => prop_oneof![
                Just("0"), Just("7"), Just("01"), Just("-3"), Just("1.5"), Just("1e3"),
                Just("4294967296"), Just("18446744073709551616"), Just("true"), Just("nul"),
                Just("{}"), Just("[]"), Just(r#"{"k":[1,{"n":null}]}"#), Just("[1,"),
            ]
            .prop_map(str::to_owned),
        ]
    }

    fn object(fields: Vec<(String, String)>) -> impl Strategy<Value = String> {
        let parts: Vec<_> = fields
            .into_iter()
            .map(|(key, value)| {
                (spaced(key), spaced(":"), Just(value))
                    .prop_map(|(key, colon, value)| format!("{key}{colon}{value}"))
            })
            .collect();
        (parts, spaced("}")).prop_map(|(parts, close)| format!("{{{}{close}", parts.join(",")))
    }

    fn key(known: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop_oneof![
            6 => proptest::sample::select(known).prop_map(|k| format!("\"{k}\"")),
            1 => Just(r#""\u0069d""#.to_owned()),
            1 => Just(r#""extra_field""#.to_owned()),
            1 => Just(r#""error""#.to_owned()),
        ]
    }

    fn fields(
        known: &'static [&'static str],
        value: impl Strategy<Value = String> + Clone,
    ) -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec((key(known), value), 0..7)
    }

    fn tool_calls() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just(r#"[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]"#.to_owned()),
            Just(r#"[{"index":"1","function":{"arguments":"1}"},"extra":true}]"#.to_owned()),
            Just("[7]".to_owned()),
        ]
    }

    fn delta() -> impl Strategy<Value = String> {
        let value = prop_oneof![4 => scalar_value(), 1 => tool_calls()];
        fields(
            &[
                "role",
                "content",
                "refusal",
                "reasoning_content",
                "tool_calls",
            ],
            value,
        )
        .prop_flat_map(object)
    }

    fn choice() -> impl Strategy<Value = String> {
        let value = prop_oneof![3 => scalar_value(), 3 => delta()];
        fields(&["index", "delta", "finish_reason", "logprobs"], value).prop_flat_map(object)
    }

    fn choices() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => scalar_value(),
            4 => prop::collection::vec(choice(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(","))),
        ]
    }

    fn count_value() -> impl Strategy<Value = String> + Clone {
        prop_oneof![
            4 => (0u64..100_000).prop_map(|n| n.to_string()),
            1 => scalar_value(),
        ]
    }

    fn token_details() -> impl Strategy<Value = String> {
        let known = &[
            "cached_tokens",
            "audio_tokens",
            "text_tokens",
            "image_tokens",
            "reasoning_tokens",
            "accepted_prediction_tokens",
            "rejected_prediction_tokens",
        ];
        prop_oneof![
            1 => scalar_value(),
            4 => fields(known, count_value()).prop_flat_map(object),
        ]
    }

    fn usage() -> impl Strategy<Value = String> {
        let value = prop_oneof![3 => count_value(), 2 => token_details()];
        let known = &[
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "prompt_tokens_details",
            "completion_tokens_details",
        ];
        prop_oneof![
            1 => scalar_value(),
            4 => fields(known, value).prop_flat_map(object),
        ]
    }

    fn message() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            4 => scalar_value(),
            1 => Just(r#"[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]"#.to_owned()),
            1 => Just(r#"[{"type":"url_citation","url_citation":{"url":"https://x"}}]"#.to_owned()),
        ];
        let known = &[
            "role",
            "content",
            "refusal",
            "reasoning_content",
            "tool_calls",
            "annotations",
            "audio",
        ];
        fields(known, value).prop_flat_map(object)
    }

    fn answer_choice() -> impl Strategy<Value = String> {
        let value = prop_oneof![3 => scalar_value(), 3 => message()];
        fields(&["index", "message", "finish_reason", "logprobs"], value).prop_flat_map(object)
    }

    fn answer() -> impl Strategy<Value = String> {
        let choices = prop_oneof![
            1 => scalar_value(),
            4 => prop::collection::vec(answer_choice(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(","))),
        ];
        let value = prop_oneof![4 => scalar_value(), 3 => choices, 2 => usage()];
        let known = &[
            "id",
            "object",
            "created",
            "model",
            "system_fingerprint",
            "service_tier",
            "choices",
            "usage",
        ];
        (
            fields(known, value).prop_flat_map(object),
            prop_oneof![8 => Just(""), 1 => Just(" \n"), 1 => Just(" x")],
        )
            .prop_map(|(body, tail)| format!("{body}{tail}"))
    }

    fn chunk() -> impl Strategy<Value = String> {
        let value = prop_oneof![4 => scalar_value(), 3 => choices(), 1 => usage()];
        let known = &[
            "id",
            "object",
            "created",
            "model",
            "system_fingerprint",
            "service_tier",
            "choices",
            "usage",
            "obfuscation",
        ];
        (
            fields(known, value).prop_flat_map(object),
            prop_oneof![8 => Just(""), 1 => Just(" \n"), 1 => Just(" x"), 1 => Just("}")],
        )
            .prop_map(|(body, tail)| format!("{body}{tail}"))
    }

    fn answer_by_serde(text: &str) -> Option<String> {
        serde_json::from_str::<ChatResponse>(text)
            .ok()
            .map(|answer| format!("{answer:?}"))
    }

    fn answer_by_reader(text: &str) -> Option<String> {
        super::response(text).map(|answer| format!("{answer:?}"))
    }

    #[test]
    fn a_real_answer_takes_the_direct_path_and_matches_serde() {
        let answer = r#"{"id":"chatcmpl-B","object":"chat.completion","created":1751234567,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":31,"total_tokens":55,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},"cost":0.0001},"service_tier":"default","system_fingerprint":"fp_34a54ae93c"}"#;
        let direct = answer_by_reader(answer);
        assert!(direct.is_some());
        assert_eq!(direct, answer_by_serde(answer));
    }

    fn embeddings_by_serde(text: &str) -> Option<String> {
        serde_json::from_str::<EmbeddingResponse>(text)
            .ok()
            .map(|answer| format!("{answer:?}"))
    }

    fn embeddings_by_reader(text: &str) -> Option<String> {
        super::embeddings(text).map(|answer| format!("{answer:?}"))
    }

    /// What the reader makes of one number, if it reads the whole text as one.
    fn read_number(text: &str) -> Option<f32> {
        let mut reader = Reader { text, pos: 0 };
        let value = reader.float()?;
        (reader.pos == text.len()).then_some(value)
    }

    #[test]
    fn eight_digits_takes_only_digits() {
        assert_eq!(eight_digits(b"01234567", 0), Some(1_234_567));
        assert_eq!(eight_digits(b"x99999999", 1), Some(99_999_999));
        assert_eq!(eight_digits(b"1234567", 0), None);
        for position in 0..8 {
            for byte in 0..=255u8 {
                let mut text = *b"12345678";
                text[position] = byte;
                let want = std::str::from_utf8(&text)
                    .ok()
                    .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
                    .map(|t| t.parse::<u64>().unwrap());
                assert_eq!(eight_digits(&text, 0), want, "{text:?}");
            }
        }
    }

    #[test]
    fn long_numbers_follow_serdes_overflow_rule() {
        for text in [
            "0.00012345678901234567",
            "-0.000000012345678901234567890123",
            "12345678901234567890.5",
            "18446744073709551615",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.2345678901234567e-05",
            "9.99e-300",
            "1e308",
        ] {
            let by_serde: f32 = serde_json::from_str(text).unwrap();
            let direct = read_number(text).unwrap_or_else(|| panic!("declined {text}"));
            assert_eq!(direct.to_bits(), by_serde.to_bits(), "{text}");
        }
        for declined in ["18446744073709551616", "1e309", "1e-400", "1.5e10000"] {
            assert_eq!(read_number(declined), None, "{declined}");
        }
    }

    #[test]
    fn real_embeddings_take_the_direct_path_and_match_serde() {
        for answer in [
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[-0.0123456789,0.5,1e-7,-2.5E+3,0,-0,12,-7,0.0]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}"#,
            r#"{"data":[{"embedding":"AACAPwAAAMA=","index":1},{"index":0,"embedding":null}],"model":"m","x":[1,{"y":null}]}"#,
            r#"{ "object": "list", "data": [ { "index": 0, "embedding": [ 1.5 , -2 ] , "extra": true } ] }"#,
            // LiteLLM re-serialises each f32 as Python's repr of the widened f64.
            r#"{"model":"m","data":[{"embedding":[0.029999999329447746,-0.00012345678901234567,1.2345678901234567e-05,7.1e-45],"index":0,"object":"embedding"}],"object":"list"}"#,
        ] {
            let direct = embeddings_by_reader(answer);
            assert!(direct.is_some(), "not read directly: {answer}");
            assert_eq!(direct, embeddings_by_serde(answer), "{answer}");
        }
        for declined in [
            r#"{"data":[],"data":[]}"#,
            r#"{"data":[{"index":0,"index":1}]}"#,
            r#"{"data":[{"embedding":[1e400]}]}"#,
            r#"{"data":[{"embedding":[01]}]}"#,
            r#"{"data":[{"embedding":"not base64!"}]}"#,
        ] {
            assert_eq!(embeddings_by_reader(declined), None, "{declined}");
        }
    }

    fn number_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "-?(0|[1-9][0-9]{0,21})(\\.[0-9]{1,22})?([eE][+-]?[0-9]{1,4})?",
            any::<f32>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(|v| v.to_string()),
            any::<f32>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(|v| format!("{v:e}")),
            any::<f64>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(|v| v.to_string()),
            (-1_000_000_000i64..1_000_000_000, 0u32..12)
                .prop_map(|(n, k)| format!("{}", n as f64 / 10f64.powi(k as i32))),
            any::<f64>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(|v| format!("{v:e}")),
            // Python's repr of an f32 widened to f64, as LiteLLM re-serialises vectors.
            (any::<f32>(), -40i32..3).prop_map(|(v, k)| {
                let wide = f64::from(v) * 10f64.powi(k);
                if wide.abs() < 1e-4 && wide != 0.0 {
                    format!("{wide:e}")
                } else {
                    wide.to_string()
                }
            }),
            "-?[1-9][0-9]{15,25}(\\.[0-9]{0,30})?",
            "-?0\\.0{0,6}[1-9][0-9]{15,25}([eE]-?[0-9]{1,3})?",
        ]
    }

    fn vector_value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::collection::vec(number_text(), 0..6)
                .prop_map(|numbers| format!("[{}]", numbers.join(","))),
            1 => Just(r#""AACAPwAAAMA=""#.to_owned()),
            1 => Just(r#""AACAPw\/AAMA=""#.to_owned()),
            1 => Just(r#""AAA""#.to_owned()),
            1 => scalar_value(),
            1 => Just("[1,]".to_owned()),
            1 => Just("[1 2]".to_owned()),
            1 => Just(r#"[1,"2"]"#.to_owned()),
        ]
    }

    fn embedding_item() -> impl Strategy<Value = String> {
        let value = prop_oneof![3 => vector_value(), 2 => scalar_value()];
        fields(&["index", "embedding", "object"], value).prop_flat_map(object)
    }

    fn embeddings_answer() -> impl Strategy<Value = String> {
        let data = prop_oneof![
            1 => scalar_value(),
            4 => prop::collection::vec(embedding_item(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(","))),
        ];
        let usage = prop_oneof![
            Just(r#"{"prompt_tokens":2,"total_tokens":"2","x":1}"#.to_owned()),
            scalar_value(),
        ];
        let value = prop_oneof![3 => scalar_value(), 4 => data, 1 => usage];
        fields(&["object", "data", "model", "usage"], value).prop_flat_map(object)
    }

    proptest! {
        /// Every number the reader reads comes out as serde_json makes it, bit for bit.
        #[test]
        fn numbers_read_as_serde_reads_them(text in number_text()) {
            if let Some(value) = read_number(&text) {
                let by_serde: f32 = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(value.to_bits(), by_serde.to_bits(), "{}", text);
            }
        }

        /// Whatever the embeddings reader decodes, serde decodes to the same answer.
        #[test]
        fn the_embeddings_reader_agrees_with_serde(text in embeddings_answer()) {
            if let Some(direct) = embeddings_by_reader(&text) {
                prop_assert_eq!(Some(direct), embeddings_by_serde(&text), "{}", text);
            }
        }

        /// Whatever the answer reader decodes, serde decodes to the same answer, and it
        /// never accepts an answer serde rejects.
        #[test]
        fn the_answer_reader_agrees_with_serde(text in answer()) {
            if let Some(direct) = answer_by_reader(&text) {
                prop_assert_eq!(Some(direct), answer_by_serde(&text), "{}", text);
            }
        }

        /// Whatever the direct reader decodes, serde decodes to the same chunk; and it
        /// never accepts a frame serde rejects.
        #[test]
        fn the_direct_reader_agrees_with_serde(text in chunk()) {
            if let Some(direct) = by_reader(&text) {
                prop_assert_eq!(Some(direct), by_serde(&text), "{}", text);
            }
        }

        /// Cut anywhere, a frame is never half-read into a chunk serde would not give.
        #[test]
        fn truncated_frames_agree_too(text in chunk(), cut in any::<prop::sample::Index>()) {
            let end = text.char_indices().map(|(i, _)| i).nth(cut.index(text.chars().count().max(1))).unwrap_or(0);
            let prefix = &text[..end];
            if let Some(direct) = by_reader(prefix) {
                prop_assert_eq!(Some(direct), by_serde(prefix), "{}", prefix);
            }
        }
    }
}
