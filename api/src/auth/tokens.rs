//! API tokens: `rota_` and 43 characters of base64url (32 random bytes). The api keeps only their
//! SHA-256 (`ROTA_API_TOKENS=operator:<hex>,viewer:<hex>`): a token is high-entropy, so a plain hash
//! cannot be reversed and needs no salt or slow hash.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Role;

/// What every API token starts with, so a token is told from a JWT at a glance.
pub const TOKEN_PREFIX: &str = "rota_";

/// A new token and the `ROTA_API_TOKENS` entry that admits it.
pub struct NewToken {
    pub token: String,
    pub entry: String,
}

/// Makes a token for `role` from the operating system's random source.
pub fn new_token(role: Role) -> NewToken {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("the operating system gives random bytes");
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let entry = format!("{}:{}", role.name(), hex(&digest(&token)));
    NewToken { token, entry }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The tokens the api admits, as hashes.
#[derive(Clone, Debug, Default)]
pub struct TokenSet(Vec<(Role, [u8; 32])>);

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("ROTA_API_TOKENS entry {index} ({entry:?}): {problem}")]
pub struct TokenSetError {
    /// 1-based, as people count.
    pub index: usize,
    pub entry: String,
    pub problem: &'static str,
}

impl TokenSet {
    /// Reads `role:sha256-hex` entries separated by commas (whitespace around them is fine).
    pub fn parse(text: &str) -> Result<Self, TokenSetError> {
        let entries = text.split(',').map(str::trim).filter(|e| !e.is_empty());
        let parsed = entries.enumerate().map(|(i, entry)| {
            let fail = |problem| TokenSetError {
                index: i + 1,
                // The hash is no secret, but a token pasted here by mistake is: never echo it.
                entry: entry.chars().take(12).collect::<String>() + "…",
                problem,
            };
            let (role, hash) = entry
                .split_once(':')
                .ok_or_else(|| fail("expected role:sha256-hex"))?;
            let role = Role::parse(role).ok_or_else(|| fail("the role is viewer or operator"))?;
            if hash.starts_with(TOKEN_PREFIX) {
                return Err(fail(
                    "that is a token, not its hash: `rota token new` prints the entry",
                ));
            }
            let hash = parse_hex(hash).ok_or_else(|| fail("the hash is 64 hex digits"))?;
            Ok((role, hash))
        });
        parsed.collect::<Result<_, _>>().map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The role of `token` and a name for it that logs and limits may show (its hash's first
    /// eight digits), if the set admits it. Every entry is compared, in constant time.
    pub fn admit(&self, token: &str) -> Option<(Role, String)> {
        let presented = digest(token);
        let mut found = None;
        for (role, hash) in &self.0 {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some((*role, format!("token:{}", &hex(hash)[..8])));
            }
        }
        found
    }
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_is_admitted_by_its_entry_with_its_role_only() {
        let operator = new_token(Role::Operator);
        let viewer = new_token(Role::Viewer);
        assert!(operator.token.starts_with(TOKEN_PREFIX));
        assert_eq!(operator.token.len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(operator.token, viewer.token);
        let set = TokenSet::parse(&format!("{}, {}", operator.entry, viewer.entry)).unwrap();
        let (role, name) = set.admit(&operator.token).unwrap();
        assert_eq!(role, Role::Operator);
        assert_eq!(
            name,
            format!("token:{}", &operator.entry["operator:".len()..][..8])
        );
        assert_eq!(set.admit(&viewer.token).unwrap().0, Role::Viewer);
        assert_eq!(set.admit(&format!("{}x", operator.token)), None);
        assert_eq!(set.admit(""), None);
        assert!(
            !operator
                .entry
                .contains(&operator.token[TOKEN_PREFIX.len()..])
        );
    }

    #[test]
    fn a_bad_entry_is_named_without_echoing_a_token() {
        let token = new_token(Role::Operator).token;
        let good = new_token(Role::Viewer).entry;
        let error = TokenSet::parse(&format!("{good},operator:{token}")).unwrap_err();
        assert_eq!(error.index, 2);
        assert!(error.problem.contains("not its hash"), "{error}");
        assert!(!error.to_string().contains(&token), "{error}");
        let cases = [
            ("root:00", "the role is viewer or operator"),
            ("operator", "expected role:sha256-hex"),
            ("operator:abc", "the hash is 64 hex digits"),
        ];
        for (entry, problem) in cases {
            assert_eq!(
                TokenSet::parse(entry).unwrap_err().problem,
                problem,
                "{entry}"
            );
        }
        assert!(TokenSet::parse(" , ").unwrap().is_empty());
    }
}
