//! Who may do what. A viewer reads and watches; an operator also writes: every request that is not
//! a GET or HEAD (starting and cancelling rides, routes, imports) and the WebSocket `start` frame.
//! An operator proves it with `Authorization: Bearer` and an API token ([`tokens`]) or an OIDC
//! access token ([`oidc`]); a request with no token is a viewer.
//!
//! With neither configured, a loopback listener lets everyone write (laptop mode) and any other
//! refuses writes, unless `--auth none` opens it on purpose.

pub mod oidc;
pub mod tokens;

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{AppState, SharedState, error::ApiError};
pub use oidc::{Oidc, OidcConfig};
pub use tokens::{TokenSet, new_token};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Viewer, Self::Operator]
            .into_iter()
            .find(|role| role.name() == name)
    }
}

/// Who asks, as [`guard`] found out; in every request's extensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Caller {
    pub role: Role,
    /// Names the caller for limits and logs, never a secret: `token:1a2b3c4d` (its hash's start),
    /// `jwt:<sub>`, or `addr:<ip>` for a caller without a token.
    pub name: String,
    /// Whether the caller sent a token (which then proved valid).
    pub signed_in: bool,
    /// The client's address: the peer's, or the one trusted proxies say they forwarded.
    pub addr: IpAddr,
}

/// How operators sign in, as configured.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// `--auth none`: everyone may write, on any address, on purpose.
    pub none: bool,
    pub tokens: TokenSet,
    pub oidc: Option<OidcConfig>,
    /// Proxies in front of the api (an Istio gateway, a load balancer) whose `X-Forwarded-For`
    /// entries are believed: the client is the entry this many from the end. 0 believes none.
    pub trusted_proxies: usize,
}

impl AuthConfig {
    /// Whether writes need a token: API tokens or OIDC are configured (and not `--auth none`).
    pub fn signs_in(&self) -> bool {
        !self.none && (!self.tokens.is_empty() || self.oidc.is_some())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("--auth none conflicts with the API tokens or OIDC configured: choose one")]
pub struct AuthConflict;

/// The api's one answer to "who is this and may they do that".
pub struct Gate {
    mode: Mode,
    trusted_proxies: usize,
    /// Whether the listener is on a loopback address: then only this machine reaches it, by a
    /// loopback name.
    loopback: bool,
}

/// How writes are admitted, as `GET /api/session` tells the web map.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Writes {
    /// Anyone may write: a loopback listener with no auth configured, or `--auth none`.
    Open,
    /// No one may: a non-loopback listener with no auth configured.
    ReadOnly,
    /// Operators sign in with a token.
    SignIn,
}

/// Who the caller is and how writes are admitted: `GET /api/session`.
#[derive(Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub role: Role,
    pub signed_in: bool,
    pub writes: Writes,
}

enum Mode {
    /// Everyone is an operator.
    Open,
    /// Nothing configured on a non-loopback address: everyone is a viewer; writes say why not.
    ReadOnly { listen: SocketAddr },
    Enforced {
        tokens: TokenSet,
        oidc: Option<Box<Oidc>>,
    },
}

impl Gate {
    /// The gate for `config` on a listener at `listen`; says in the log which it is.
    pub fn new(config: AuthConfig, listen: SocketAddr) -> Result<Self, AuthConflict> {
        let configured = !config.tokens.is_empty() || config.oidc.is_some();
        let mode = match (config.none, configured) {
            (true, true) => return Err(AuthConflict),
            (true, false) => {
                tracing::warn!(
                    "--auth none: anyone who reaches {listen} may start, cancel and delete"
                );
                Mode::Open
            }
            (false, false) if listen.ip().is_loopback() => {
                tracing::info!(
                    "no auth configured: anyone on this machine may write; only loopback ({listen}) is served"
                );
                Mode::Open
            }
            (false, false) => {
                tracing::warn!(
                    "no auth configured on {listen}: writes are refused (set ROTA_API_TOKENS or ROTA_OIDC_ISSUER, or --auth none)"
                );
                Mode::ReadOnly { listen }
            }
            (false, true) => {
                let oidc = config.oidc.map(|config| Box::new(Oidc::new(config)));
                if let Some(oidc) = &oidc {
                    let issuer = &oidc.config().issuer;
                    tracing::info!(issuer, "operators sign in with OIDC tokens");
                }
                if !config.tokens.is_empty() {
                    tracing::info!("operators sign in with API tokens");
                }
                Mode::Enforced {
                    tokens: config.tokens,
                    oidc,
                }
            }
        };
        Ok(Self {
            mode,
            trusted_proxies: config.trusted_proxies,
            loopback: listen.ip().is_loopback(),
        })
    }

    /// Whether anyone may write, with no token: on a laptop, or `--auth none`. Then the browser
    /// protections of [`crate::browser::open_mode`] stand where a token would.
    pub fn is_open(&self) -> bool {
        matches!(self.mode, Mode::Open)
    }

    /// Whether the listener is on a loopback address.
    pub fn loopback(&self) -> bool {
        self.loopback
    }

    /// The client's address: `peer`, or the `X-Forwarded-For` entry the trusted proxies added.
    pub fn client_addr(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        if self.trusted_proxies == 0 {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        // Entries left of the trusted ones are whatever the client wrote: never believed.
        forwarded
            .len()
            .checked_sub(self.trusted_proxies)
            .and_then(|i| forwarded[i].parse().ok())
            .unwrap_or(peer)
    }

    /// What `caller` may do here, for the web map.
    pub fn session(&self, caller: &Caller) -> Session {
        let writes = match self.mode {
            Mode::Open => Writes::Open,
            Mode::ReadOnly { .. } => Writes::ReadOnly,
            Mode::Enforced { .. } => Writes::SignIn,
        };
        Session {
            role: caller.role,
            signed_in: caller.signed_in,
            writes,
        }
    }

    /// Who sends `headers` from `addr`: a 401 if they send a token that is not valid.
    pub async fn caller(&self, headers: &HeaderMap, addr: IpAddr) -> Result<Caller, ApiError> {
        let anonymous = |role| Caller {
            role,
            name: format!("addr:{addr}"),
            signed_in: false,
            addr,
        };
        let (tokens, oidc) = match &self.mode {
            Mode::Open => return Ok(anonymous(Role::Operator)),
            Mode::ReadOnly { .. } => return Ok(anonymous(Role::Viewer)),
            Mode::Enforced { tokens, oidc } => (tokens, oidc),
        };
        let Some(token) = bearer(headers)? else {
            return Ok(anonymous(Role::Viewer));
        };
        let signed_in = |role, name| Caller {
            role,
            name,
            signed_in: true,
            addr,
        };
        if token.starts_with(tokens::TOKEN_PREFIX) {
            return tokens
                .admit(token)
                .map(|(role, name)| signed_in(role, name))
                .ok_or_else(|| unauthorized("this API token is not valid"));
        }
        let Some(oidc) = oidc else {
            return Err(unauthorized("this API token is not valid"));
        };
        match oidc.verify(token).await {
            Ok(verified) => Ok(signed_in(
                verified.role,
                format!("jwt:{}", verified.subject),
            )),
            Err(e @ oidc::JwtError::Unavailable(_)) => {
                tracing::warn!(error = %e, "cannot verify a token");
                Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.to_string(),
                ))
            }
            Err(e) => Err(unauthorized(&e.to_string())),
        }
    }

    /// Whether `caller` may `doing` (a write): a 401 without a token, a 403 with a viewer's.
    pub fn may_write(&self, caller: &Caller, doing: &str) -> Result<(), ApiError> {
        if caller.role == Role::Operator {
            return Ok(());
        }
        let refused = match &self.mode {
            Mode::ReadOnly { listen } => ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{doing} is refused: this api listens on {listen} with no auth configured \
                     (its operator sets ROTA_API_TOKENS or OIDC, or --auth none)"
                ),
            ),
            _ if !caller.signed_in => unauthorized(&format!(
                "{doing} needs an operator: send Authorization: Bearer <operator token>"
            )),
            _ => ApiError::new(
                StatusCode::FORBIDDEN,
                format!("{doing} needs an operator; this token is a viewer's"),
            ),
        };
        Err(refused.with_detail(json!({ "role": caller.role, "needs": Role::Operator })))
    }
}

fn unauthorized(why: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, why).with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"rota\""),
    )
}

/// The token of `Authorization: Bearer <token>`, if one is sent.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    token
        .map(Some)
        .ok_or_else(|| unauthorized("Authorization must be `Bearer <token>`"))
}

/// Whether `caller` may make one more write, `doing`: an operator's, within the caller's rate. Every
/// write passes here: REST requests through [`guard`], the WebSocket's `start` frames.
pub fn admit_write(state: &AppState, caller: &Caller, doing: &str) -> Result<(), ApiError> {
    state.gate.may_write(caller, doing)?;
    state.limits.write(&caller.name)
}

/// Finds out who asks and puts the [`Caller`] in the request; refuses a write from anyone but an
/// operator, and one over the caller's rate. Every route is behind it, so a new write route cannot
/// be left open.
pub async fn guard(State(state): State<SharedState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
    let addr = state.gate.client_addr(request.headers(), peer);
    let caller = match state.gate.caller(request.headers(), addr).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    if !request.method().is_safe() {
        let doing = format!("{} {}", request.method(), request.uri().path());
        if let Err(e) = admit_write(&state, &caller, &doing) {
            return e.into_response();
        }
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(trusted_proxies: usize) -> Gate {
        let config = AuthConfig {
            trusted_proxies,
            ..AuthConfig::default()
        };
        Gate::new(config, "127.0.0.1:8080".parse().unwrap()).unwrap()
    }

    #[test]
    fn the_client_is_the_address_the_trusted_proxies_forwarded() {
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        let mut headers = HeaderMap::new();
        // What the client wrote itself, then what the gateway appended.
        headers.append("x-forwarded-for", "6.6.6.6".parse().unwrap());
        headers.append("x-forwarded-for", "203.0.113.7".parse().unwrap());
        assert_eq!(
            gate(0).client_addr(&headers, peer),
            peer,
            "no proxy believed"
        );
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(gate(1).client_addr(&headers, peer), client);
        assert_eq!(
            gate(3).client_addr(&headers, peer),
            peer,
            "fewer entries than proxies"
        );
        headers.insert("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(gate(1).client_addr(&headers, peer), peer);
    }

    #[test]
    fn none_with_tokens_is_a_contradiction() {
        let config = AuthConfig {
            none: true,
            tokens: TokenSet::parse(&new_token(Role::Operator).entry).unwrap(),
            ..AuthConfig::default()
        };
        assert!(Gate::new(config, "127.0.0.1:8080".parse().unwrap()).is_err());
    }
}
