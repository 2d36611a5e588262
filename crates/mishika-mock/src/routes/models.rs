//! `GET /v1/models` and `GET /v1/models/{id}`.

use http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, Ctx, Handled, Reply, json_response};

fn model_object(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 0, "owned_by": "mishika-mock" })
}

pub(crate) fn list(ctx: &Ctx<'_>) -> Reply {
    let data: Vec<Value> = ctx.models.iter().map(|id| model_object(id)).collect();
    json_response(ctx, &json!({ "object": "list", "data": data }))
}

pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Handled {
    if ctx.models.iter().any(|model| model == id) {
        Ok(json_response(ctx, &model_object(id)))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("The model `{id}` does not exist"),
            "not_found_error",
            json!("model"),
        ))
    }
}
