//! The `anthropic/` backend: Anthropic's native Messages API, with the same `ChatRequest`
//! as every other provider — here a tool call, answered and sent back.
//!
//! ```text
//! cargo run --example anthropic_chat                    # zero setup: built-in MockGateway
//! ANTHROPIC_API_KEY=sk-ant-... cargo run --example anthropic_chat -- anthropic/claude-3-5-haiku-latest
//! ```
//!
//! Settings come from `ANTHROPIC_API_KEY` (sent as `x-api-key`), `ANTHROPIC_BASE_URL`
//! (default `https://api.anthropic.com`), or `Client::builder().provider_settings("anthropic", …)`.

mod support;

use std::io::Write;

use futures_util::StreamExt;
use mishika::{ChatMessage, ChatRequest, ChatStreamAccumulator, Tool};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    let model = support::arg(1, "anthropic/claude-3-5-haiku-latest");
    eprintln!("gateway: {}", support::answered_by(&model, &gateway));
    let tag = support::echo_tag(&model);

    let weather = Tool::function(
        "get_weather",
        "The current weather in a city",
        json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}),
    );
    let mut messages = vec![
        ChatMessage::system("Answer in one short sentence."),
        ChatMessage::user("What is the weather in Paris?"),
    ];
    let request = ChatRequest::new(model.as_str(), messages.clone())
        .tools([weather.clone()])
        .max_tokens(256);

    // Streamed: the accumulator assembles the tool call from Anthropic's events.
    let mut stream = client.chat_stream(request).await?;
    let mut whole = ChatStreamAccumulator::default();
    print!("{tag}");
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        print!("{}", chunk.content().unwrap_or_default());
        std::io::stdout().flush()?;
        whole.push(&chunk);
    }
    let first = whole.finish();
    let calls = first.tool_calls().to_vec();
    println!();
    for call in &calls {
        println!(
            "tool call: {}({})",
            call.function.name, call.function.arguments
        );
    }
    if calls.is_empty() {
        return Ok(());
    }

    // Answer the call and ask again: the result goes back as a tool_result block.
    messages.push(ChatMessage::assistant_tool_calls(calls.clone()));
    for call in &calls {
        messages.push(ChatMessage::tool(call.id.clone(), "Sunny, 21 C"));
    }
    let answer = client
        .chat(
            ChatRequest::new(model.as_str(), messages)
                .tools([weather])
                .max_tokens(256),
        )
        .await?;
    println!(
        "final answer: {tag}{}",
        answer.content().unwrap_or("(no text)")
    );
    if let Some(usage) = &answer.usage {
        println!(
            "usage: {} prompt + {} completion tokens",
            usage.prompt_tokens.unwrap_or(0),
            usage.completion_tokens.unwrap_or(0)
        );
    }
    Ok(())
}
