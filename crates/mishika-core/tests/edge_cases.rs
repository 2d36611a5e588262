//! Edge cases of what servers send: streams with very many choices and tool calls, and
//! choice and tool-call indices out of range.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mishika_core::chat::{ChatDelta, ChunkChoice, FunctionCallDelta, ToolCallDelta};
use mishika_core::{ChatChunk, ChatResponse, ChatStreamAccumulator, CompletionResponse};

/// A chunk with one delta for choice `choice`: content `text`, and a tool-call piece with
/// index `call` when given.
fn chunk(choice: u32, text: &str, call: Option<(u32, &str)>) -> ChatChunk {
    // The answer types are `#[non_exhaustive]`: built from `Default`, field by field.
    let mut delta = ChatDelta::default();
    delta.content = Some(text.to_owned());
    delta.tool_calls = call.map(|(index, arguments)| {
        let mut piece = ToolCallDelta::default();
        piece.index = index;
        piece.id = Some(format!("call_{choice}_{index}"));
        piece.function = Some(FunctionCallDelta::new(
            Some("f".into()),
            Some(arguments.to_owned()),
        ));
        vec![piece]
    });
    let mut chunk_choice = ChunkChoice::default();
    chunk_choice.index = choice;
    chunk_choice.delta = delta;
    let mut chunk = ChatChunk::default();
    chunk.choices = vec![chunk_choice];
    chunk
}

/// 50 000 distinct choice indices, each with its own tool call, arriving newest-first and
/// then revisited in the other order: each lookup misses the last choice, so a search
/// through the choices seen so far would cost 50 000² / 2 steps per pass (seconds even
/// in a release build, minutes in a debug one). With maps it is linear.
#[test]
fn fifty_thousand_distinct_indices_assemble_in_linear_time() {
    const N: u32 = 50_000;
    let mut accumulator = ChatStreamAccumulator::default();
    for i in 0..N {
        let choice = N - 1 - i;
        accumulator.push(&chunk(choice, "a", Some((choice % 7, "{"))));
    }
    for choice in 0..N {
        accumulator.push(&chunk(choice, "b", Some((choice % 7, "}"))));
    }
    let response = accumulator.finish();
    assert_eq!(response.choices.len(), N as usize);
    for (position, choice) in response.choices.iter().enumerate() {
        // In order of first appearance: newest-first.
        let index = N - 1 - position as u32;
        assert_eq!(choice.index, index);
        assert_eq!(choice.message.content.as_deref(), Some("ab"));
        let calls = choice.message.tool_calls.as_deref().unwrap();
        assert_eq!(calls.len(), 1, "choice {index}");
        assert_eq!(calls[0].id, format!("call_{index}_{}", index % 7));
        assert_eq!(calls[0].function.arguments, "{}");
    }
}

/// Many tool calls on one choice, interleaved: each assembles from its own pieces, and
/// they come out in index order.
#[test]
fn fifty_thousand_tool_calls_on_one_choice() {
    const N: u32 = 50_000;
    let mut accumulator = ChatStreamAccumulator::default();
    for index in (0..N).rev() {
        accumulator.push(&chunk(0, "", Some((index, "["))));
    }
    for index in 0..N {
        accumulator.push(&chunk(0, "", Some((index, "]"))));
    }
    let response = accumulator.finish();
    let calls = response.tool_calls();
    assert_eq!(calls.len(), N as usize);
    for (index, call) in calls.iter().enumerate() {
        assert_eq!(call.id, format!("call_0_{index}"));
        assert_eq!(call.function.arguments, "[]");
    }
}

/// An index is a whole number from 0 to 4294967295: anything else is a decode error that
/// names it, whichever reader (the direct one or serde) reads the answer.
#[test]
fn choice_and_tool_call_indices_out_of_range_are_errors_naming_them() {
    for (index, named) in [
        ("-1", "index -1 is out of range"),
        ("1e23", "index 100000000000000000000000 is out of range"),
        ("4294967296", "index 4294967296 is out of range"),
        (
            "18446744073709551616",
            "index 18446744073709552000 is out of range",
        ),
        ("1.5", "index 1.5 is out of range"),
        ("\"-3\"", "index -3 is out of range"),
        ("\"two\"", "index \"two\" is out of range"),
        ("\"\"", "index \"\" is out of range"),
    ] {
        let response =
            format!(r#"{{"choices":[{{"index":{index},"message":{{"content":"x"}}}}]}}"#);
        let chunk = format!(r#"{{"choices":[{{"index":{index},"delta":{{"content":"x"}}}}]}}"#);
        let call = format!(
            r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{index},"id":"c"}}]}}}}]}}"#
        );
        let completion = format!(r#"{{"choices":[{{"index":{index},"text":"x"}}]}}"#);
        let errors = [
            serde_json::from_str::<ChatResponse>(&response).map(drop),
            serde_json::from_str::<ChatChunk>(&chunk).map(drop),
            serde_json::from_str::<ChatChunk>(&call).map(drop),
            serde_json::from_str::<CompletionResponse>(&completion).map(drop),
        ];
        for error in errors {
            let error = error.unwrap_err().to_string();
            assert!(error.contains(named), "{index}: {error}");
        }
        // The direct reader of chat answers agrees: a Decode error naming the index.
        let decoded = mishika_core::decode::decode_json::<ChatResponse>(response.as_bytes(), None);
        let error = decoded.unwrap_err();
        assert_eq!(error.kind(), mishika_core::ErrorKind::Decode);
        assert!(error.message().contains(named), "{index}: {error}");
    }
    // Whole numbers in any form, null and absent are fine.
    for (index, want) in [
        ("0", 0),
        ("4294967295", u32::MAX),
        ("2.0", 2),
        ("\"3\"", 3),
        ("null", 0),
    ] {
        let response = format!(r#"{{"choices":[{{"index":{index},"message":{{}}}}]}}"#);
        let parsed: ChatResponse = serde_json::from_str(&response).unwrap();
        assert_eq!(parsed.choices[0].index, want, "{index}");
    }
    let parsed: ChatResponse = serde_json::from_str(r#"{"choices":[{"message":{}}]}"#).unwrap();
    assert_eq!(parsed.choices[0].index, 0);
}
