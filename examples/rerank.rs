//! Rerank: `cargo run --example rerank -- <model> <query> <document>...` prints index and
//! score per result, best first.
//!
//! The default model, `mishikallm_proxy/rerank-english-v3.0`, reaches the proxy as
//! `rerank-english-v3.0`: a LiteLLM proxy serves it when its `config.yaml` routes that name
//! to a rerank model, as the conformance suite's proxy does
//! (`tests/conformance/litellm_config.yaml`):
//!
//! ```yaml
//! model_list:
//!   - model_name: rerank-english-v3.0
//!     litellm_params: {model: cohere/rerank-english-v3.0, api_key: os.environ/COHERE_API_KEY}
//!     model_info: {mode: rerank}
//! ```
//!
//! A proxy has no models but those of its config: pass the `model_name` of yours as the
//! first argument. With zero setup the MockGateway answers, with made-up scores.

mod support;

use mishika::RerankRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    let model = support::arg(1, "mishikallm_proxy/rerank-english-v3.0");
    let query = support::arg(2, "What is the capital of France?");
    let documents = support::args_from(
        3,
        &[
            "Berlin is the capital of Germany.",
            "Paris is the capital of France.",
            "The Eiffel Tower is in Paris.",
        ],
    );
    eprintln!("gateway: {}", gateway.label);

    let mut response = client
        .rerank(RerankRequest::new(model, query, documents.clone()).return_documents(true))
        .await?;
    response
        .results
        .sort_by(|a, b| b.relevance_score.total_cmp(&a.relevance_score));
    for result in &response.results {
        let text = documents
            .get(result.index as usize)
            .map_or("", String::as_str);
        println!("{} {:.4} {text}", result.index, result.relevance_score);
    }
    Ok(())
}
