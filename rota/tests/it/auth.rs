//! Who may do what: every write route (taken from the OpenAPI document, so a new one cannot slip
//! through) and the WebSocket `start` refuse callers without an operator's token, reads stay open;
//! API tokens and OIDC access tokens (verified against a JWKS server the test runs) sign operators
//! in; a listener beyond loopback with no sign-in configured refuses writes (and a broker there
//! without users says so); no token reaches the logs.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use api::auth::{AuthConfig, OidcConfig, Role, new_token};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use rota::platform::Platform;
use serde_json::{Value, json};

use crate::common::{
    self, RotaProcess, Tokens, Ws, base_url, bearer, boot_with, eventually, free_port, http,
    http_with,
};

async fn boot_with_auth(dir: &std::path::Path, auth: AuthConfig) -> Platform {
    let mut config = common::config(dir);
    config.api.as_mut().unwrap().auth = auth;
    boot_with(config).await
}

/// `method url` as `token` (none: no Authorization header).
async fn send(method: &str, url: &str, token: Option<&str>) -> (u16, hyper::HeaderMap, Value) {
    let auth = token.map(bearer);
    let mut headers = vec![("content-type", "application/json")];
    if let Some((name, value)) = &auth {
        headers.push((name, value.as_str()));
    }
    http_with(method, url, &headers, Some("{}")).await.unwrap()
}

/// Every operation of the served OpenAPI document as (method, path), path parameters filled in
/// with an id that names nothing.
async fn operations(base: &str) -> Vec<(String, String)> {
    let (status, document) = http("GET", &format!("{base}/api/openapi.json"), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        let path: Vec<String> = path
            .split('/')
            .map(|part| match part.starts_with('{') {
                true => "no-such-id".to_owned(),
                false => part.to_owned(),
            })
            .collect();
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                operations.push((method.to_uppercase(), path.join("/")));
            }
        }
        // What the document says of writes, as the guard enforces it.
        for (method, operation) in item.as_object().unwrap() {
            if method == "get" || method == "parameters" {
                continue;
            }
            let responses = operation["responses"].as_object().unwrap();
            for status in ["401", "403", "429"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path:?} documents {status}"
                );
            }
            assert_eq!(
                operation["security"],
                json!([{"bearer": []}]),
                "{method} {path:?}"
            );
        }
    }
    operations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_needs_an_operator_and_reads_need_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = Tokens::generate();
    let auth = AuthConfig {
        tokens: tokens.set.clone(),
        ..AuthConfig::default()
    };
    let platform = boot_with_auth(dir.path(), auth).await;
    let base = base_url(&platform);

    let operations = operations(&base).await;
    let (writes, reads): (Vec<_>, Vec<_>) = operations.iter().partition(|(m, _)| m != "GET");
    for known in [
        ("POST", "/api/rides"),
        ("POST", "/api/rides/batch"),
        ("DELETE", "/api/rides/no-such-id"),
        ("POST", "/api/routes"),
        ("PUT", "/api/routes/no-such-id"),
        ("DELETE", "/api/routes/no-such-id"),
    ] {
        assert!(
            writes
                .iter()
                .any(|(m, p)| (m.as_str(), p.as_str()) == known),
            "{known:?} is a documented write: {writes:?}"
        );
    }
    let wrong = format!("rota_{}", "x".repeat(43));
    for (method, path) in &writes {
        let url = format!("{base}{path}");
        let (status, headers, body) = send(method, &url, None).await;
        assert_eq!(status, 401, "{method} {path} without a token: {body}");
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"rota\"");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("needs an operator"),
            "{body}"
        );
        let (status, _, body) = send(method, &url, Some(&wrong)).await;
        assert_eq!(status, 401, "{method} {path} with a wrong token: {body}");
        assert_eq!(body["error"], "this API token is not valid");
        let (status, _, body) = send(method, &url, Some(&tokens.viewer)).await;
        assert_eq!(status, 403, "{method} {path} with a viewer's token: {body}");
        assert_eq!(body["detail"]["role"], "viewer");
    }
    for (method, path) in &writes {
        let (status, _, body) =
            send(method, &format!("{base}{path}"), Some(&tokens.operator)).await;
        assert!(
            ![401, 403, 429].contains(&status),
            "{method} {path} with an operator's token: {status} {body}"
        );
    }
    for (_, path) in &reads {
        let (status, _, body) = send("GET", &format!("{base}{path}"), None).await;
        assert!(
            ![401, 403].contains(&status),
            "GET {path} without a token: {status} {body}"
        );
    }
    // An operator's start works end to end; the history is the one everyone may read.
    let (status, _, started) = send_json(&base, &tokens.operator).await;
    assert_eq!(status, 202, "{started}");

    let session = format!("{base}/api/session");
    assert_eq!(
        send("GET", &session, None).await.2,
        json!({"role": "viewer", "signedIn": false, "writes": "sign-in"})
    );
    assert_eq!(
        send("GET", &session, Some(&tokens.operator)).await.2,
        json!({"role": "operator", "signedIn": true, "writes": "sign-in"})
    );
    assert_eq!(send("GET", &session, Some(&wrong)).await.0, 401);

    // The WebSocket: reading needs no one, `start` an operator, whose token the upgrade carried.
    let http_addr = platform.http_addr.unwrap();
    let start = api::frames::ClientFrame::Start {
        route_id: "1".into(),
        speed_kmh: None,
    };
    for (token, status) in [(None, 401), (Some(&tokens.viewer), 403)] {
        let headers: Vec<_> = token.map(|t| bearer(t)).into_iter().collect();
        let mut ws = Ws::connect_with(http_addr, &headers).await.unwrap();
        ws.send(&start).await;
        let detail = ws
            .next_where(|frame| match frame {
                common::Frame::Error { detail, .. } => Some(detail.into_owned()),
                _ => None,
            })
            .await;
        assert_eq!(detail["status"], status, "{detail}");
        ws.watch_fleet().await; // the socket stays open, and reads
    }
    let mut ws = Ws::connect_with(http_addr, &[bearer(&tokens.operator)])
        .await
        .unwrap();
    ws.send(&start).await;
    ws.started().await;
    let refused = Ws::connect_with(http_addr, &[bearer(&wrong)]).await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(401));
    platform.stop().await.unwrap();
}

async fn send_json(base: &str, token: &str) -> (u16, hyper::HeaderMap, Value) {
    let auth = bearer(token);
    let headers = [
        ("content-type", "application/json"),
        (auth.0, auth.1.as_str()),
    ];
    let body = json!({"routeId": "1"}).to_string();
    http_with("POST", &format!("{base}/api/rides"), &headers, Some(&body))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_with_no_sign_in_writes_are_refused_unless_opened_on_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.api.as_mut().unwrap().http = "0.0.0.0:0".parse().unwrap();
    let platform = boot_with(config.clone()).await;
    let base = base_url(&platform);
    let (status, _, body) = send("POST", &format!("{base}/api/rides"), None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("with no auth configured"),
        "{body}"
    );
    assert_eq!(
        http("GET", &format!("{base}/api/routes"), None)
            .await
            .unwrap()
            .0,
        200
    );
    let (_, _, session) = send("GET", &format!("{base}/api/session"), None).await;
    assert_eq!(session["writes"], "read-only");
    platform.stop().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    config.data_dir = dir.path().to_owned();
    config.api.as_mut().unwrap().auth.none = true;
    let platform = boot_with(config).await;
    let base = base_url(&platform);
    common::start_ride(&base, "1").await;
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_laptop_other_sites_and_rebound_names_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.api.as_mut().unwrap().limits.allowed_hosts = vec!["rota.test".to_owned()];
    let platform = boot_with(config).await;
    let base = base_url(&platform);
    let port = platform.http_addr.unwrap().port();
    let routes = || async {
        let (_, listed) = http("GET", &format!("{base}/api/routes"), None)
            .await
            .unwrap();
        listed["items"].as_array().unwrap().len()
    };
    let before = routes().await;
    let route_file = "-15.8,-47.9\n-15.81,-47.91\n";
    let import = |headers: Vec<(&'static str, String)>| {
        let url = format!("{base}/api/routes?title=From%20elsewhere");
        async move {
            let mut headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            headers.push(("content-type", "text/plain"));
            http_with("POST", &url, &headers, Some(route_file))
                .await
                .unwrap()
        }
    };
    let start = |headers: Vec<(&'static str, String)>| {
        let url = format!("{base}/api/rides");
        async move {
            let mut headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            headers.push(("content-type", "application/json"));
            http_with("POST", &url, &headers, Some(r#"{"routeId":"1"}"#))
                .await
                .unwrap()
        }
    };

    // A page of another site posts a route file as a "simple" request, which no preflight stops.
    let (status, _, body) = import(vec![("origin", "http://evil.example".to_owned())]).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("may not write here"),
        "{body}"
    );
    // A page on a name rebound to this machine: its requests are same-origin to the browser.
    let rebound = format!("rebound.example:{port}");
    let as_rebound = || {
        vec![
            ("host", rebound.clone()),
            ("origin", format!("http://{rebound}")),
        ]
    };
    let (status, _, body) = start(as_rebound()).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("DNS rebinding"),
        "{body}"
    );
    let (status, _, _) = http_with(
        "GET",
        &format!("{base}/api/rides"),
        &[("host", &rebound)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 403, "reads under a rebound name too");
    let upgrade: Vec<(&str, String)> = as_rebound();
    let refused = Ws::connect_with(platform.http_addr.unwrap(), &upgrade).await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(403));
    assert_eq!(routes().await, before, "nothing was written");

    // This machine's own pages, a listed name, and clients that are not browsers may.
    let own = format!("http://localhost:{port}");
    let (status, _, body) =
        start(vec![("host", format!("localhost:{port}")), ("origin", own)]).await;
    assert_eq!(status, 202, "{body}");
    let listed = format!("rota.test:{port}");
    let (status, _, body) = start(vec![
        ("host", listed.clone()),
        ("origin", format!("http://{listed}")),
    ])
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, _, body) = import(Vec::new()).await;
    assert_eq!(status, 201, "{body}");
    platform.stop().await.unwrap();
}

/// A JWKS endpoint, as an identity provider publishes its keys; the key set can be swapped.
struct Jwks {
    url: String,
    keys: Arc<Mutex<Value>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Jwks {
    async fn serve(keys: Value) -> Self {
        let keys = Arc::new(Mutex::new(keys));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get({
                let keys = keys.clone();
                move || {
                    let keys = keys.lock().unwrap().clone();
                    async move { axum::Json(keys) }
                }
            }),
        );
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/jwks"),
            keys,
            _server: server,
        }
    }
}

/// An RSA signing key with its key id, made by the openssl command.
struct SigningKey {
    kid: String,
    key: EncodingKey,
}

impl SigningKey {
    fn new(kid: &str) -> Self {
        // PKCS#1 DER, the form the key takes without a PEM parser.
        let output = std::process::Command::new("sh")
            .args([
                "-c",
                "openssl genrsa 2048 2>/dev/null | openssl rsa -traditional -outform DER",
            ])
            .output()
            .expect("openssl runs (scripts/test-setup installs it)");
        assert!(output.status.success(), "{output:?}");
        Self {
            kid: kid.to_owned(),
            key: EncodingKey::from_rsa_der(&output.stdout),
        }
    }

    /// Its public half, as a JWKS lists it.
    fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(self.kid.clone());
        serde_json::to_value(jwk).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

const ISSUER: &str = "https://id.example.test/realms/rota";
const AUDIENCE: &str = "rota-api";

fn claims(roles: &[&str]) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "dana", "iat": now, "exp": now + 600,
           "realm_access": {"roles": roles}})
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_access_tokens_sign_operators_in_and_bad_ones_are_refused() {
    let (first, second, stranger) = (
        SigningKey::new("key-1"),
        SigningKey::new("key-2"),
        SigningKey::new("key-x"),
    );
    let jwks = Jwks::serve(json!({"keys": [first.jwk()]})).await;
    let dir = tempfile::tempdir().unwrap();
    let auth = AuthConfig {
        oidc: Some(OidcConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_url: jwks.url.clone(),
            role_claim: "realm_access.roles".into(),
            operator_role: "rota-operator".into(),
        }),
        ..AuthConfig::default()
    };
    let platform = boot_with_auth(dir.path(), auth).await;
    let base = base_url(&platform);
    let start = |token: String| {
        let base = base.clone();
        async move {
            let (status, _, body) = send_json(&base, &token).await;
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };

    let operator = claims(&["rota-operator", "offline_access"]);
    assert_eq!(start(first.sign(&operator)).await.0, 202);
    assert_eq!(start(first.sign(&claims(&["offline_access"]))).await.0, 403);
    let with = |key: &str, value: Value| {
        let mut claims = operator.clone();
        claims[key] = value;
        claims
    };
    let refusals = [
        (first.sign(&with("exp", json!(1_000_000_000))), "expired"),
        (
            first.sign(&with("nbf", json!(events::now_ms() / 1000 + 600))),
            "not valid yet",
        ),
        (
            first.sign(&{
                let mut claims = operator.clone();
                claims.as_object_mut().unwrap().remove("sub");
                claims
            }),
            "names no subject",
        ),
        (first.sign(&with("sub", json!(""))), "names no subject"),
        (
            first.sign(&with("aud", json!("another-api"))),
            "another audience",
        ),
        (
            first.sign(&with("iss", json!("https://evil.example"))),
            "another issuer",
        ),
        (stranger.sign(&operator), "\"key-x\" is not among"),
        (
            // Unsigned, as `alg: none` allows: never accepted.
            format!(
                "{}.{}.",
                base64url(br#"{"alg":"none","typ":"JWT","kid":"key-1"}"#),
                base64url(operator.to_string().as_bytes())
            ),
            "not a JWT this api accepts",
        ),
        (
            // Signed with the public key as an HMAC secret (algorithm confusion).
            jsonwebtoken::encode(
                &Header {
                    kid: Some("key-1".into()),
                    ..Header::new(Algorithm::HS256)
                },
                &operator,
                &EncodingKey::from_secret(first.jwk()["n"].as_str().unwrap().as_bytes()).unwrap(),
            )
            .unwrap(),
            "algorithm HS256 is not accepted",
        ),
        ("not.a.token".to_owned(), "not a JWT"),
    ];
    for (token, why) in refusals {
        let (status, error) = start(token).await;
        assert_eq!(status, 401, "{why}: {error}");
        assert!(error.contains(why), "{error:?} says {why:?}");
    }

    // The provider rotates its key: tokens of the new key are accepted once the keys are fetched
    // again (at most every 10 s for an unknown key id), and the old key is no longer trusted.
    *jwks.keys.lock().unwrap() = json!({"keys": [second.jwk()]});
    let rotated = second.sign(&operator);
    eventually(
        "the rotated key is trusted",
        Duration::from_secs(20),
        || {
            let start = start(rotated.clone());
            async move {
                match start.await {
                    (202, _) => Ok(()),
                    (status, error) => Err(format!("{status} {error}")),
                }
            }
        },
    )
    .await;
    let (status, error) = start(first.sign(&operator)).await;
    assert_eq!(
        (status, error.contains("\"key-1\" is not among")),
        (401, true),
        "{error}"
    );
    platform.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_the_logs_and_the_start_up_says_who_may_write() {
    let tokens = Tokens::generate();
    let entries = [new_token(Role::Operator), new_token(Role::Viewer)];
    let (operator, viewer) = (&entries[0].token, &entries[1].token);
    let wrong = format!("rota_{}", "y".repeat(43));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("rota.log");
    let env = [
        (
            "ROTA_API_TOKENS",
            format!("{},{}", entries[0].entry, entries[1].entry),
        ),
        ("RUST_LOG", "debug".to_owned()),
    ];
    let data = dir.path().join("data").display().to_string();
    let kafka = free_port().to_string();
    let args = ["up", "--data-dir", &data, "--kafka-listen", &kafka];
    let (rota, http_addr) = RotaProcess::serving_logged(&args, &env, &log).await;
    let base = format!("http://{http_addr}");
    assert_eq!(send_json(&base, operator).await.0, 202);
    assert_eq!(send_json(&base, viewer).await.0, 403);
    assert_eq!(send_json(&base, &wrong).await.0, 401);
    assert_eq!(
        send_json(&base, &tokens.operator).await.0,
        401,
        "another api's token"
    );
    let mut ws = Ws::connect_with(http_addr, &[bearer(operator)])
        .await
        .unwrap();
    ws.start("1", None).await;
    rota.stop().await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("operators sign in with API tokens"),
        "{logged}"
    );
    assert!(
        logged.contains("ride requested"),
        "the log is the whole log"
    );
    for secret in [operator, viewer, &wrong, &tokens.operator] {
        assert!(!logged.contains(secret.as_str()), "a token is in the log");
        assert!(
            !logged.contains(&secret[5..]),
            "part of a token is in the log"
        );
    }

    // Beyond loopback with nothing configured, the start-up says writes are refused, and that
    // anyone may use the broker.
    let log = dir.path().join("open.log");
    let data = dir.path().join("open").display().to_string();
    let kafka = format!("0.0.0.0:{}", free_port().port());
    let http = free_port();
    let wide = format!("0.0.0.0:{}", http.port());
    let args = [
        "up",
        "--data-dir",
        &data,
        "--kafka-listen",
        &kafka,
        "--http",
        &wide,
    ];
    let rota = RotaProcess::start_logged(&args, &[("RUST_LOG", "info".into())], &log, http).await;
    common::wait_ready(http).await;
    rota.stop().await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("writes are refused"), "{logged}");
    assert!(
        logged.contains("the built-in broker listens beyond loopback with no authentication"),
        "{logged}"
    );

    // On loopback with nothing configured: laptop mode, and the log says so.
    let log = dir.path().join("laptop.log");
    let data = dir.path().join("laptop").display().to_string();
    let kafka = free_port().to_string();
    let args = ["up", "--data-dir", &data, "--kafka-listen", &kafka];
    let env = [("RUST_LOG", "info".to_owned())];
    let (rota, http_addr) = RotaProcess::serving_logged(&args, &env, &log).await;
    common::start_ride(&format!("http://{http_addr}"), "1").await;
    rota.stop().await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("no auth configured: anyone on this machine may write"),
        "{logged}"
    );
}

#[test]
fn rota_token_new_prints_a_token_and_the_entry_that_admits_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rota"))
        .args(["token", "new", "--role", "viewer"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let told = String::from_utf8(output.stderr).unwrap();
    let entry = told
        .lines()
        .find_map(|line| line.strip_prefix("ROTA_API_TOKENS="))
        .unwrap_or_else(|| panic!("{told}"));
    let set = api::auth::TokenSet::parse(entry).unwrap();
    assert_eq!(set.admit(&token).map(|(role, _)| role), Some(Role::Viewer));
    assert!(
        !told.contains(&token),
        "the token is printed once, on its own"
    );
}
