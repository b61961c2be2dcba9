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
    routes()
        .into_openapi()
        .to_pretty_json()
        .expect("the document serializes")
});

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
            speed["maximum"].as_f64(),
            Some(crate::ride_commands::MAX_SPEED_KMH),
            "{speed}"
        );
    }
}
