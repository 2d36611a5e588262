//! Legacy text completion: `cargo run --example text_completion -- <model> <prompt>`
//! prints the completion text. Sent natively to `/v1/completions`, never rewritten as chat.

mod support;

use mishika::CompletionRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    let model = support::arg(1, "mishikallm_proxy/gpt-3.5-turbo-instruct");
    let prompt = support::arg(2, "Say this is a test");
    eprintln!("gateway: {}", gateway.label);

    let response = client
        .text_completion(CompletionRequest::new(model.as_str(), prompt).max_tokens(32))
        .await?;
    println!(
        "{}{}",
        support::echo_tag(&model),
        response.text().unwrap_or("(no text)")
    );
    Ok(())
}
