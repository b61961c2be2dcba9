//! HTTP errors as JSON: `{"error": "...", "detail": ...}` with the right status.

use axum::{
    Json,
    extract::rejection::{BytesRejection, JsonRejection, QueryRejection},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::store::StoreError;

/// An error and each of its causes: `the embedded store failed: I/O error: …`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(e) = cause {
        let said = e.to_string();
        // Some errors (librdkafka's) already end with their cause's text.
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = e.source();
    }
    text
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub detail: Value,
    /// Headers the answer carries besides its JSON: `WWW-Authenticate` on a 401, `Retry-After`
    /// on a 429. Boxed: most errors have none, and errors travel in every `Result`.
    pub headers: Option<Box<HeaderMap>>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            detail: Value::Null,
            headers: None,
        }
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} {id:?} not found"))
            .with_detail(json!({ "id": id }))
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.get_or_insert_default().insert(name, value);
        self
    }
}

/// An error as the API answers it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// For programs: `field` names the field, element or line at fault; `id` the unknown id.
    #[schema(value_type = Option<Object>, required = true)]
    pub detail: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.error,
            detail: self.detail,
        };
        let headers = self.headers.map(|h| *h).unwrap_or_default();
        (self.status, headers, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let error = e.chain();
        tracing::error!(error, "store failure");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error)
    }
}

/// A body that is not JSON, or not the JSON asked for, is a 400 naming the problem (axum's own
/// rejection says which field or line and column); one that cannot be read keeps its status (413
/// over the size limit).
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, rejection.body_text())
            }
            JsonRejection::BytesRejection(rejection) => rejection.into(),
            _ => Self::bad_request(rejection.body_text()),
        }
    }
}

/// A body that cannot be read: over the size limit (413), or cut off.
impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        let status = rejection.status();
        let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the body is over the size limit".to_owned()
        } else {
            rejection.body_text()
        };
        Self::new(status, error)
    }
}

/// A query string that does not parse (a repeated or malformed parameter) is a 400 too.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}
