//! `GET /health`, `/health/liveliness` (and `/health/liveness`, `/health/readiness`).

use serde_json::json;

use super::{Ctx, Reply, json_response};

/// `200 "I'm alive!"` — a JSON string, as the LiteLLM proxy answers.
pub(crate) fn alive(ctx: &Ctx<'_>) -> Reply {
    json_response(ctx, &json!("I'm alive!"))
}
