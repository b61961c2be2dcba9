//! What protects the people using the web map in a browser: security headers on every answer (a
//! Content-Security-Policy that admits the configured tile server and nothing else foreign), the
//! WebSocket's Origin check against cross-site WebSocket hijacking, and in open mode (no token
//! needed to write) the checks that stand where a token would: no write from another site's page,
//! and on a loopback listener no request naming a host that is not this machine (a page that
//! reached it by DNS rebinding).

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{SharedState, error::ApiError};

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

/// In open mode, refuses what a page of another site could otherwise do here without any token:
/// a write from a page whose `Origin` is not this api's (a cross-site form or `fetch`), and on a
/// loopback listener any request whose `Host` is not a loopback name or listed (a page on a name
/// that was made to resolve to this machine). With sign-in on, writes need a token that such a
/// page does not have.
pub async fn open_mode(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    if !state.gate.is_open() {
        return next.run(request).await;
    }
    let headers = request.headers();
    let limits = &state.limits.config;
    if state.gate.loopback() && !host_allowed(headers, &limits.allowed_hosts) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this api answers only this machine's loopback names (localhost, 127.0.0.1), not {}: \
                 a page that reaches it under another name may have been made to by DNS rebinding \
                 (ROTA_ALLOWED_HOSTS lists more names)",
                host.unwrap_or("a request without a Host")
            ),
        )
        .into_response();
    }
    if !request.method().is_safe() && !origin_allowed(headers, &limits.allowed_origins) {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "a page from {} may not write here: with no sign-in, only this api's own pages and \
                 clients that are not browsers may (ROTA_ALLOWED_ORIGINS lists more origins)",
                origin.unwrap_or("an unreadable origin")
            ),
        )
        .into_response();
    }
    next.run(request).await
}

/// Whether a request's `Host` names this machine's loopback (`localhost` and its subdomains,
/// which browsers resolve to loopback themselves, `127.0.0.0/8`, `[::1]`) or a listed host.
fn host_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    let name = name.to_ascii_lowercase();
    let loopback = name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback || allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
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
    fn only_loopback_hosts_and_listed_ones_are_this_machine() {
        let host = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
            headers
        };
        let listed = ["rota.test".to_owned()];
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST:8080",
            "maps.localhost:8080",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:8080",
            "rota.test:8080",
        ] {
            assert!(host_allowed(&host(ok), &listed), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:8080",
            "[::2]:8080",
            "127.0.0.1.nip.io",
        ] {
            assert!(!host_allowed(&host(refused), &listed), "{refused}");
        }
        assert!(!host_allowed(&HeaderMap::new(), &listed), "no Host at all");
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
