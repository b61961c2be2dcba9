//! OIDC access tokens (JWTs) from an identity provider: signed with one of its keys (its JWKS,
//! fetched and cached), from its issuer, for this api's audience, not expired; a role claim says
//! whether the caller is an operator.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    errors::ErrorKind,
    jwk::{AlgorithmParameters, JwkSet},
};
use serde_json::Value;
use tokio::sync::Mutex;

use super::Role;

/// Keys are fetched again after this long, so a removed key stops being trusted.
const KEYS_FOR: Duration = Duration::from_secs(300);
/// A token with an unknown key fetches the JWKS again (a rotated key), but not more often than
/// this: tokens with made-up key ids must not make the api hammer the identity provider, and one
/// that is down must not hold every request up.
const REFETCH_AFTER: Duration = Duration::from_secs(10);
/// Asymmetric algorithms only: with a shared-secret one (HS256) anyone holding a public key could
/// sign.
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` tokens must carry (one of).
    pub audience: String,
    /// Where the provider publishes its signing keys.
    pub jwks_url: String,
    /// The claim holding the caller's roles, a string or a list; dots reach into objects
    /// (`realm_access.roles`).
    pub role_claim: String,
    /// The role in that claim that makes an operator.
    pub operator_role: String,
}

/// Why a token is refused; `Unavailable` is the provider's fault, not the caller's.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JwtError {
    #[error("the token is not a JWT this api accepts: {0}")]
    Malformed(String),
    #[error("the token's algorithm {0:?} is not accepted (only asymmetric signatures are)")]
    Algorithm(Algorithm),
    #[error("the token names no signing key (kid)")]
    NoKeyId,
    #[error("the token's signing key {0:?} is not among the identity provider's keys")]
    UnknownKey(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token names no subject (sub): its caller could not be told from others")]
    NoSubject,
    #[error("the token is for another audience")]
    Audience,
    #[error("the token is from another issuer")]
    Issuer,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token is refused: {0}")]
    Invalid(String),
    #[error("the identity provider's keys cannot be fetched: {0}")]
    Unavailable(String),
}

/// A verified token's caller.
#[derive(Debug, PartialEq)]
pub struct Verified {
    pub role: Role,
    pub subject: String,
}

pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    keys: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    by_id: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    /// When the keys were last fetched.
    fetched: Option<Instant>,
    /// When a fetch was last tried, whether it worked or not.
    tried: Option<Instant>,
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client with default TLS builds");
        Self {
            config,
            http,
            keys: Mutex::default(),
        }
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    pub async fn verify(&self, token: &str) -> Result<Verified, JwtError> {
        let header = decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(JwtError::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(JwtError::NoKeyId)?;
        let (key, key_alg) = self.key(&kid).await?;
        if key_alg.is_some_and(|alg| alg != header.alg) {
            return Err(JwtError::Algorithm(header.alg));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        // `sub` names the caller for limits and logs: tokens without one would all share one
        // rate and one ride cap.
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        let claims = decode::<Value>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                ErrorKind::MissingRequiredClaim(claim) if claim == "sub" => JwtError::NoSubject,
                ErrorKind::InvalidAudience => JwtError::Audience,
                ErrorKind::InvalidIssuer => JwtError::Issuer,
                ErrorKind::InvalidSignature => JwtError::Signature,
                _ => JwtError::Invalid(e.to_string()),
            })?
            .claims;
        Ok(Verified {
            role: self.role(&claims),
            subject: claims["sub"]
                .as_str()
                .filter(|sub| !sub.is_empty())
                .ok_or(JwtError::NoSubject)?
                .to_owned(),
        })
    }

    fn role(&self, claims: &Value) -> Role {
        let held = self
            .config
            .role_claim
            .split('.')
            .try_fold(claims, |value, part| value.get(part));
        let operator = |v: &Value| v.as_str() == Some(self.config.operator_role.as_str());
        let is_operator = match held {
            Some(Value::Array(roles)) => roles.iter().any(operator),
            Some(role) => operator(role),
            None => false,
        };
        if is_operator {
            Role::Operator
        } else {
            Role::Viewer
        }
    }

    /// The key `kid`, from the cache while it is fresh; fetched again when it is stale, or when
    /// `kid` is unknown. Fetches are tried at most every [`REFETCH_AFTER`], so neither made-up key
    /// ids nor a provider that is down make every request wait for the provider.
    async fn key(&self, kid: &str) -> Result<(DecodingKey, Option<Algorithm>), JwtError> {
        let mut keys = self.keys.lock().await;
        let older = |at: Option<Instant>, age| at.is_none_or(|at| at.elapsed() >= age);
        let wanted = older(keys.fetched, KEYS_FOR) || !keys.by_id.contains_key(kid);
        if wanted && older(keys.tried, REFETCH_AFTER) {
            keys.tried = Some(Instant::now());
            match self.fetch().await {
                Ok(by_id) => {
                    keys.by_id = by_id;
                    keys.fetched = keys.tried;
                }
                // Keep the keys known: a provider briefly down must not sign everyone out.
                Err(e) if !keys.by_id.is_empty() => {
                    tracing::warn!(error = %e, "kept the keys fetched before")
                }
                Err(e) => return Err(e),
            }
        }
        match keys.by_id.get(kid) {
            Some(key) => Ok(key.clone()),
            None if keys.fetched.is_none() => Err(JwtError::Unavailable(
                "no keys fetched yet; the last try failed".to_owned(),
            )),
            None => Err(JwtError::UnknownKey(kid.to_owned())),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, Option<Algorithm>)>, JwtError> {
        let unavailable = |e: reqwest::Error| JwtError::Unavailable(e.to_string());
        let response = self.http.get(&self.config.jwks_url).send().await;
        let body = response
            .and_then(|r| r.error_for_status())
            .map_err(unavailable)?
            .bytes()
            .await
            .map_err(unavailable)?;
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| JwtError::Unavailable(format!("the JWKS is not a key set: {e}")))?;
        let keys = set.keys.iter().filter_map(|jwk| {
            // Public keys only: a shared secret in a JWKS would be a mistake to trust.
            if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
                return None;
            }
            let kid = jwk.common.key_id.clone()?;
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse().ok());
            Some((kid, (DecodingKey::from_jwk(jwk).ok()?, alg)))
        });
        Ok(keys.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable() -> Oidc {
        // A port nothing listens on: every fetch fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Oidc::new(OidcConfig {
            issuer: "https://id.example.test".into(),
            audience: "rota-api".into(),
            jwks_url: format!("http://127.0.0.1:{port}/jwks"),
            role_claim: "realm_access.roles".into(),
            operator_role: "rota-operator".into(),
        })
    }

    #[tokio::test]
    async fn keys_fetched_before_stay_in_use_while_the_provider_is_down() {
        let oidc = unreachable();
        assert!(
            matches!(oidc.key("k1").await, Err(JwtError::Unavailable(_))),
            "no keys yet: the provider's fault, not the caller's"
        );
        let stale = Instant::now() - KEYS_FOR - Duration::from_secs(1);
        *oidc.keys.lock().await = Keys {
            by_id: HashMap::from([(
                "k1".to_owned(),
                (
                    DecodingKey::from_rsa_components("AQAB", "AQAB").unwrap(),
                    None,
                ),
            )]),
            fetched: Some(stale),
            tried: Some(stale),
        };
        assert!(
            oidc.key("k1").await.is_ok(),
            "a stale key is kept, not dropped"
        );
        assert_eq!(
            oidc.key("k2").await.err(),
            Some(JwtError::UnknownKey("k2".into()))
        );
    }

    #[test]
    fn the_role_claim_is_followed_into_objects_and_lists() {
        let oidc = unreachable();
        let operator = serde_json::json!({"realm_access": {"roles": ["x", "rota-operator"]}});
        assert_eq!(oidc.role(&operator), Role::Operator);
        let single = serde_json::json!({"realm_access": {"roles": "rota-operator"}});
        assert_eq!(oidc.role(&single), Role::Operator);
        for viewer in [
            serde_json::json!({"realm_access": {"roles": ["x"]}}),
            serde_json::json!({"roles": ["rota-operator"]}),
            serde_json::json!({}),
        ] {
            assert_eq!(oidc.role(&viewer), Role::Viewer, "{viewer}");
        }
    }
}
