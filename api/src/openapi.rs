//! The OpenAPI document, generated from the code: the paths from the handlers' `#[utoipa::path]`
//! annotations (the same routes the router serves, registered together), the bodies from their
//! Rust types, and the WebSocket frames from [`crate::frames`]. Served at `/api/openapi.json`;
//! schemathesis checks the running API against it.

use std::sync::LazyLock;

use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{SharedState, frames, rest};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rota API",
        description = "Routes, rides and ride history of the Rota ride-tracking platform. Errors \
            are JSON `{\"error\": \"...\", \"detail\": ...}`; a `400` names the field, element or \
            line at fault in `detail.field`. Times are milliseconds since the Unix epoch. Live \
            positions stream over the WebSocket at `/ws`: a browser sends `ClientFrame`s and gets \
            `ServerFrame`s (see the schemas), every frame a JSON text frame with a `type`. The \
            Kafka messages behind them are the schemas `NewDirection` (topic \
            `route.new-direction`) and the `position` frame's fields (`route.new-position`, where \
            `position` is `[longitude, latitude]`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(frames::ClientFrame, frames::ServerFrame, events::NewDirection,))
)]
struct Document;

/// The documented routes, each with its handler.
pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::with_openapi(Document::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(rest::readyz))
        .routes(routes!(rest::metrics))
        .routes(routes!(rest::openapi))
        .routes(routes!(rest::map_config))
        .routes(routes!(rest::session))
        .routes(routes!(rest::list_routes, rest::create_route))
        .routes(routes!(
            rest::get_route,
            rest::replace_route,
            rest::delete_route
        ))
        .routes(routes!(rest::list_rides, rest::start_ride))
        .routes(routes!(rest::start_rides))
        .routes(routes!(rest::get_ride, rest::cancel_ride))
        .routes(routes!(rest::get_system))
        .routes(routes!(rest::get_records))
        .routes(routes!(rest::get_ride_record))
}

/// The document as served.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut document = routes().into_openapi();
    guarded(&mut document);
    document.to_pretty_json().expect("the document serializes")
});

/// Says of every operation what [`crate::auth::guard`] and the limits do to it, since they stand in
/// front of every route rather than in a handler: a write needs an operator's bearer token and
/// may be refused (401, 403) or limited (429, and 413 for a body); any request may be refused a
/// token that is not valid (401).
fn guarded(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{
        HttpMethod, Ref, ResponseBuilder,
        security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme},
    };
    let components = document.components.get_or_insert_with(Default::default);
    let mut bearer = Http::new(HttpAuthScheme::Bearer);
    bearer.description = Some(
        "An API token (`rota token new`) or an OIDC access token. Reads need none; writes need an \
         operator's."
            .to_owned(),
    );
    components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(
                        <crate::error::ErrorBody as utoipa::ToSchema>::name(),
                    )))
                    .build(),
            )
            .build()
    };
    for item in document.paths.paths.values_mut() {
        let operations = [
            (HttpMethod::Post, item.post.as_mut()),
            (HttpMethod::Put, item.put.as_mut()),
            (HttpMethod::Patch, item.patch.as_mut()),
            (HttpMethod::Delete, item.delete.as_mut()),
            (HttpMethod::Get, item.get.as_mut()),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let responses = &mut operation.responses.responses;
            responses.entry("401".to_owned()).or_insert_with(|| {
                error("The token sent is not valid, or a write sent none.").into()
            });
            if method == HttpMethod::Get {
                continue;
            }
            operation.security = Some(vec![SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
            let refusals = [
                (
                    "403",
                    "The caller is a viewer, or this api admits no writes (it listens beyond loopback with no sign-in configured).",
                ),
                (
                    "429",
                    "Over a limit: the caller's writes per second (`Retry-After` says when to try again) or running rides; `detail.limit` names it.",
                ),
            ];
            for (status, description) in refusals {
                responses.insert(status.to_owned(), error(description).into());
            }
            if operation.request_body.is_some() {
                responses.insert(
                    "413".to_owned(),
                    error("The body is over the size limit.").into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// utoipa takes limits only as literals: the document's must be the ones the code enforces.
    #[test]
    fn documented_limits_are_the_enforced_ones() {
        let document: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        let schemas = &document["components"]["schemas"];
        let rides = &schemas["StartRides"]["properties"]["rides"];
        assert_eq!(
            (rides["minItems"].as_u64(), rides["maxItems"].as_u64()),
            (Some(1), Some(crate::MAX_BATCH_RIDES as u64)),
            "{rides}"
        );
        let speed = &schemas["StartRide"]["properties"]["speedKmh"];
        assert_eq!(
            (speed["minimum"].as_f64(), speed["maximum"].as_f64()),
            (Some(events::MIN_SPEED_KMH), Some(events::MAX_SPEED_KMH)),
            "{speed}"
        );
        for field in ["routeId", "clientId"] {
            let id = &schemas["StartRide"]["properties"][field];
            assert_eq!(
                id["maxLength"].as_u64(),
                Some(events::MAX_ID_BYTES as u64),
                "{id}"
            );
        }
    }
}
