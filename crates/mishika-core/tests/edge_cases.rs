//! Edge cases of what servers send: streams with very many choices and tool calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mishika_core::chat::{ChatDelta, ChunkChoice, FunctionCallDelta, ToolCallDelta};
use mishika_core::{ChatChunk, ChatStreamAccumulator};

/// A chunk with one delta for choice `choice`: content `text`, and a tool-call piece with
/// index `call` when given.
fn chunk(choice: u32, text: &str, call: Option<(u32, &str)>) -> ChatChunk {
    ChatChunk {
        choices: vec![ChunkChoice {
            index: choice,
            delta: ChatDelta {
                content: Some(text.to_owned()),
                tool_calls: call.map(|(index, arguments)| {
                    vec![ToolCallDelta {
                        index,
                        id: Some(format!("call_{choice}_{index}")),
                        function: Some(FunctionCallDelta {
                            name: Some("f".into()),
                            arguments: Some(arguments.to_owned()),
                        }),
                        ..ToolCallDelta::default()
                    }]
                }),
                ..ChatDelta::default()
            },
            ..ChunkChoice::default()
        }],
        ..ChatChunk::default()
    }
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
