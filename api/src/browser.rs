//! What protects the people using the web map in a browser: security headers on every answer (a
//! Content-Security-Policy that admits the configured tile server and nothing else foreign), and
//! the WebSocket's Origin check against cross-site WebSocket hijacking.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, header},
    middleware::Next,
    response::Response,
};

use crate::SharedState;

/// The headers every answer carries.
pub struct SecurityHeaders(Vec<(HeaderName, HeaderValue)>);

impl SecurityHeaders {
    /// Scripts, styles and sockets from this origin only; images also from `tiles_url`'s server.
    pub fn new(tiles_url: &str) -> Self {
        let tiles = tile_source(tiles_url)
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        // 'unsafe-inline' for styles only: Leaflet positions and turns markers with style
        // attributes. Inline scripts stay forbidden, which is what stops injected code.
        let policy = format!(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:{tiles}; connect-src 'self'; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        let headers = [
            (header::CONTENT_SECURITY_POLICY, policy.as_str()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            // Tile servers ask for the page's origin (OpenStreetMap's usage policy); no more.
            (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        ];
        Self(
            headers
                .into_iter()
                .map(|(name, value)| {
                    let value = HeaderValue::from_str(value).expect("the policy is ASCII");
                    (name, value)
                })
                .collect(),
        )
    }
}

/// The CSP source of a Leaflet tile URL's server: `https://{s}.tile.example.org/{z}/{x}/{y}.png`
/// is `https://*.tile.example.org`. None for no tiles, or a relative URL (served by 'self').
fn tile_source(tiles_url: &str) -> Option<String> {
    let (scheme, rest) = tiles_url.split_once("://")?;
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.split_once("}.") {
        // A subdomain placeholder ({s}, {r}…) is a wildcard, which CSP allows only in front.
        Some((placeholder, domain)) if placeholder.starts_with('{') => format!("*.{domain}"),
        _ if host.contains('{') => return Some(format!("{scheme}:")),
        _ => host.to_owned(),
    };
    Some(format!("{scheme}://{host}"))
}

pub async fn security_headers(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in &state.security_headers.0 {
        headers.insert(name.clone(), value.clone());
    }
    response
}

/// Whether a WebSocket upgrade with these headers may be served: a client that sends no Origin is
/// not a browser (and carries no one's cookies or session); a browser's page must be served from
/// this api's own host, or from an origin in `allowed`, or `allowed` holds `*`.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/') == origin)
    {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin.split_once("://").map(|(_, authority)| authority);
    authority.is_some_and(|authority| Some(authority) == host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_admits_the_tile_server() {
        let cases = [
            (
                "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                Some("https://tile.openstreetmap.org"),
            ),
            (
                "https://{s}.basemaps.example.com/{z}/{x}/{y}.png",
                Some("https://*.basemaps.example.com"),
            ),
            ("http://tiles-{s}.example.com:8081/{z}.png", Some("http:")),
            ("/tiles/{z}/{x}/{y}.png", None),
            ("", None),
        ];
        for (url, source) in cases {
            assert_eq!(tile_source(url).as_deref(), source, "{url}");
        }
        let headers = SecurityHeaders::new("https://tile.openstreetmap.org/{z}/{x}/{y}.png");
        let csp = &headers.0[0].1;
        assert!(
            csp.to_str()
                .unwrap()
                .contains("img-src 'self' data: https://tile.openstreetmap.org;"),
            "{csp:?}"
        );
    }

    #[test]
    fn an_upgrade_from_another_site_is_refused() {
        let headers = |origin: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::HOST,
                HeaderValue::from_static("rota.example.com:8080"),
            );
            if let Some(origin) = origin {
                headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            }
            headers
        };
        let none: &[String] = &[];
        assert!(origin_allowed(&headers(None), none), "not a browser");
        assert!(origin_allowed(
            &headers(Some("http://rota.example.com:8080")),
            none
        ));
        assert!(origin_allowed(
            &headers(Some("https://rota.example.com:8080")),
            none
        ));
        assert!(!origin_allowed(
            &headers(Some("https://evil.example")),
            none
        ));
        assert!(!origin_allowed(&headers(Some("null")), none));
        let allowed = ["https://maps.example.org/".to_owned()];
        assert!(origin_allowed(
            &headers(Some("https://maps.example.org")),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("https://evil.example")),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(Some("https://evil.example")),
            &["*".to_owned()]
        ));
    }
}
