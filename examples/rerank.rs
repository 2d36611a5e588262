//! Rerank: `cargo run --example rerank -- <model> <query> <document>...` prints index and
//! score per result, best first.

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
