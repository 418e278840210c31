//! Who may do what, without HTTP: API tokens and scopes, logins, and the
//! lock-out after bad tokens ([`limit`]). The http layer's extractor turns
//! a request into a [`Caller`].
//!
//! A token reads `zoo_<id>_<secret>`: the id (16 hex digits) is a public
//! handle for listing and revoking, the secret (64 hex digits) is stored only
//! as its sha256 and compared in constant time.

pub mod limit;

use std::fmt;
use std::str::FromStr;

use subtle::ConstantTimeEq;
use zoo_format::checksum::sha256_hex;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Publish the first version of a new package name.
    PublishNew,
    /// Publish new versions of packages the user owns (and upload blobs).
    PublishUpdate,
    Yank,
    Owners,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::PublishNew,
        Scope::PublishUpdate,
        Scope::Yank,
        Scope::Owners,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PublishNew => "publish-new",
            Scope::PublishUpdate => "publish-update",
            Scope::Yank => "yank",
            Scope::Owners => "owners",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                format!("unknown scope `{s}`; expected publish-new, publish-update, yank or owners")
            })
    }
}

/// A user as seen by authorization (stored by `crate::db`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub login: String,
}

/// Longest accepted user login.
pub const MAX_LOGIN_LEN: usize = 39;

/// Logins: 1–39 ASCII letters, digits, `-` or `_`.
pub fn validate_login(login: &str) -> Result<(), String> {
    let ok = !login.is_empty()
        && login.len() <= MAX_LOGIN_LEN
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{login}` is not a valid login: use 1 to {MAX_LOGIN_LEN} ASCII letters, digits, `-` or `_`"
        ))
    }
}

/// Parses a comma-separated scope list such as `publish-new,yank`.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, String> {
    let mut scopes: Vec<Scope> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Scope::from_str)
        .collect::<Result<_, _>>()?;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err("at least one scope is needed".into());
    }
    Ok(scopes)
}

/// Renders scopes as the comma-separated list stored in the database.
pub fn format_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// A freshly generated token: show `token` once, store `id` and `secret_sha256`.
pub struct NewToken {
    pub id: String,
    pub secret_sha256: String,
    pub token: String,
}

/// Generates a token from the operating system's random source.
pub fn generate_token() -> Result<NewToken, getrandom::Error> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id)?;
    getrandom::fill(&mut secret)?;
    let id = hex::encode(id);
    let secret = hex::encode(secret);
    Ok(NewToken {
        token: format!("zoo_{id}_{secret}"),
        secret_sha256: sha256_hex(secret.as_bytes()),
        id,
    })
}

/// Splits a presented token into its id and secret; `None` when malformed.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("zoo_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex_of = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(id, 16) && hex_of(secret, 64)).then_some((id, secret))
}

/// Whether `secret` hashes to `stored_sha256`, compared in constant time.
pub fn secret_matches(secret: &str, stored_sha256: &str) -> bool {
    let presented = sha256_hex(secret.as_bytes());
    presented.as_bytes().ct_eq(stored_sha256.as_bytes()).into()
}

/// The token from an `Authorization` header value: `Bearer <token>` or the bare token.
pub fn token_from_header(value: &str) -> &str {
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    }
}

/// The authenticated caller of a request (the http extractor answers 401
/// for a missing, malformed, unknown or revoked token).
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub scopes: Vec<Scope>,
}

impl Caller {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Refused (403 over HTTP) unless the token carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), MissingScope> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(MissingScope(scope))
        }
    }
}

/// A token without the scope an action needs.
#[derive(Debug, thiserror::Error)]
#[error("this token lacks the `{0}` scope")]
pub struct MissingScope(pub Scope);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let t = generate_token().unwrap();
        let (id, secret) = split_token(&t.token).unwrap();
        assert_eq!(id, t.id);
        assert!(secret_matches(secret, &t.secret_sha256));
        assert!(!secret_matches(
            &secret.replace(&secret[..1], "x"),
            &t.secret_sha256
        ));
        assert!(split_token("zoo_nothex_abc").is_none());
        assert!(split_token("garbage").is_none());
    }

    #[test]
    fn scopes_parse() {
        assert_eq!(
            parse_scopes("yank, publish-new,yank").unwrap(),
            vec![Scope::PublishNew, Scope::Yank]
        );
        assert!(parse_scopes("admin").unwrap_err().contains("admin"));
        assert!(parse_scopes("").is_err());
        assert_eq!(
            format_scopes(&Scope::ALL),
            "publish-new,publish-update,yank,owners"
        );
    }

    #[test]
    fn header_forms() {
        assert_eq!(token_from_header("Bearer abc"), "abc");
        assert_eq!(token_from_header("bearer  abc "), "abc");
        assert_eq!(token_from_header("abc"), "abc");
    }
}
