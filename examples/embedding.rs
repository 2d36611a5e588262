//! Embeddings: `cargo run --example embedding -- <model> <text>...` prints one line per
//! input: its index, dimension and first values.

mod support;

use mishika::{EmbeddingRequest, EncodingFormat};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    let model = support::arg(1, "mishikallm_proxy/text-embedding-3-small");
    let texts = support::args_from(2, &["The quick brown fox", "jumps over the lazy dog"]);
    eprintln!("gateway: {}", gateway.label);

    // Base64 moves a quarter of the bytes; mishika decodes it back to f32 either way.
    let response = client
        .embedding(EmbeddingRequest::new(model, texts).encoding_format(EncodingFormat::Base64))
        .await?;
    for (index, vector) in response.vectors().iter().enumerate() {
        let head: Vec<String> = vector.iter().take(4).map(|v| format!("{v:.4}")).collect();
        println!("{index}: dim={} [{}, ...]", vector.len(), head.join(", "));
    }
    Ok(())
}
