//! One bulk request and what Elasticsearch said about each document in it.

use std::time::Duration;

use elasticsearch::{
    BulkOperation, BulkParts, Elasticsearch, http::response::Response,
    indices::IndicesPutIndexTemplateParts,
};
use serde_json::Value;

use crate::document::Document;

/// What became of one document.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Indexed,
    /// Elasticsearch could not take it now (429, 5xx): send it again.
    Retry(String),
    /// Elasticsearch will never take it (a mapping error, say): a dead letter, with the reason.
    Rejected(String),
}

/// The request as a whole failed; every document in it is to be sent again.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("Elasticsearch answered {status}: {detail}")]
    Status { status: u16, detail: String },
    #[error("Elasticsearch did not answer: {0}")]
    Transport(#[from] elasticsearch::Error),
    #[error("Elasticsearch's bulk answer does not match the request: {0}")]
    Malformed(String),
}

/// Indexes `docs` in one `_bulk` request (the `index` action with each document's id).
pub async fn index(
    client: &Elasticsearch,
    docs: &[&Document],
    timeout: Duration,
) -> Result<Vec<Outcome>, BulkError> {
    let operations: Vec<BulkOperation<_>> = docs
        .iter()
        .map(|doc| {
            BulkOperation::index(&doc.body)
                .index(&doc.index)
                .id(&doc.id)
                .into()
        })
        .collect();
    let response = client
        .bulk(BulkParts::None)
        .body(operations)
        .request_timeout(timeout)
        .send()
        .await?;
    let body = json_body(response).await?;
    let items = body["items"]
        .as_array()
        .filter(|items| items.len() == docs.len())
        .ok_or_else(|| BulkError::Malformed(format!("{} documents sent", docs.len())))?;
    Ok(items.iter().map(outcome).collect())
}

/// Installs (or replaces) an index template.
pub async fn put_template(
    client: &Elasticsearch,
    name: &str,
    template: &Value,
    timeout: Duration,
) -> Result<(), BulkError> {
    let response = client
        .indices()
        .put_index_template(IndicesPutIndexTemplateParts::Name(name))
        .body(template)
        .request_timeout(timeout)
        .send()
        .await?;
    json_body(response).await.map(drop)
}

/// The answer's JSON if its status is a success, else the status and what the body says.
async fn json_body(response: Response) -> Result<Value, BulkError> {
    let status = response.status_code().as_u16();
    if !(200..300).contains(&status) {
        let detail = response.text().await.unwrap_or_default();
        let detail: String = detail.chars().take(300).collect();
        return Err(BulkError::Status { status, detail });
    }
    Ok(response.json::<Value>().await?)
}

fn outcome(item: &Value) -> Outcome {
    // Each item is `{"index": {"status": …, "error": {…}}}`.
    let result = item
        .as_object()
        .and_then(|o| o.values().next())
        .unwrap_or(item);
    let status = result["status"].as_u64().unwrap_or(0);
    let error = &result["error"];
    let reason = match (error["type"].as_str(), error["reason"].as_str()) {
        (Some(kind), Some(reason)) => format!("{kind}: {reason}"),
        _ => format!("status {status}"),
    };
    match status {
        200..=299 => Outcome::Indexed,
        429 | 500..=599 => Outcome::Retry(reason),
        _ => Outcome::Rejected(reason),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_item_is_indexed_retried_or_rejected() {
        let items = [
            json!({"index": {"status": 201}}),
            json!({"index": {"status": 200}}),
            json!({"index": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}}),
            json!({"index": {"status": 503}}),
            json!({"index": {"status": 400, "error": {"type": "document_parsing_exception", "reason": "failed to parse field [position]"}}}),
        ];
        let outcomes: Vec<Outcome> = items.iter().map(outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Indexed,
                Outcome::Indexed,
                Outcome::Retry("es_rejected_execution_exception: queue full".into()),
                Outcome::Retry("status 503".into()),
                Outcome::Rejected(
                    "document_parsing_exception: failed to parse field [position]".into()
                ),
            ]
        );
    }
}
