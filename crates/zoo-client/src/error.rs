//! One error type for the client library; every variant names what failed
//! (the URL, package, file or path) so the CLI can print it as is.

use std::path::PathBuf;

/// Errors of the zoo client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The network failed (after retries) for a URL.
    #[error("{method} {url} failed after {attempts} attempt(s): {message}")]
    Network {
        method: String,
        url: String,
        attempts: u32,
        message: String,
    },
    /// A connection or an answer took longer than the configured timeout.
    #[error("{method} {url}: {message}")]
    Timeout {
        method: String,
        url: String,
        message: String,
    },
    /// An answer was larger than the client reads for its kind.
    #[error("the answer of {url} is larger than {limit} bytes, the most zoo reads for it; refused")]
    TooLarge { url: String, limit: u64 },
    /// A server (the registry, or an upstream mirror of `[[model.sources]]`)
    /// answered with an error status; `detail` is its message.
    #[error("{method} {url}: the server answered {status}: {detail}")]
    Http {
        method: String,
        url: String,
        status: u16,
        detail: String,
    },
    /// The registry has no package of that name.
    #[error("package `{name}` was not found in the registry {registry}")]
    NotFound { name: String, registry: String },
    /// An answer could not be parsed.
    #[error("could not parse {what}: {message}")]
    Parse { what: String, message: String },
    /// Downloaded bytes did not match the listed checksum or size.
    #[error(
        "{package}: {file} is corrupt: expected sha256 {expected} ({expected_size} bytes), got {actual} ({actual_size} bytes); the download was deleted"
    )]
    Checksum {
        package: String,
        file: String,
        expected: String,
        actual: String,
        expected_size: u64,
        actual_size: u64,
    },
    /// No set of versions satisfies the request; the message explains why.
    #[error("no versions satisfy the request:\n{0}")]
    Unsatisfiable(String),
    /// Offline mode and something needed is not available locally.
    #[error("offline: {0}")]
    Offline(String),
    /// No installed version matches a requirement.
    #[error("{0}")]
    NotInstalled(String),
    /// `zoo cache verify` found an installed package damaged (its marker is
    /// in the store); the message names the repair.
    #[error(
        "{name}@{version} is broken ({problem}); repair it with `zoo install {name}@={version}`"
    )]
    Broken {
        name: String,
        version: String,
        problem: String,
    },
    /// Bad user input (a spec, a config value, a lockfile…).
    #[error("{0}")]
    Invalid(String),
    /// An error from zoo-format (manifest, archive).
    #[error("{0}")]
    Format(String),
    /// A signature is missing, invalid, expired, older than one already seen,
    /// or by a key that is not trusted; the message says which and what to do.
    #[error("{0}")]
    Trust(String),
    /// A package carries code (a TorchScript model) and the user has not
    /// opted in with `--allow-code` or `allow-code` in the config file.
    #[error(
        "{package}{needed_by} contains code: its model {file} is TorchScript, a program that runs \
         with your permissions when loaded, not just weights. Install it only if you trust its \
         publisher: pass --allow-code, or set `allow-code = true` (or `allow-code = [\"{name}\"]`) \
         in zoo's config.toml. Nothing was installed."
    )]
    CodeNotAllowed {
        package: String,
        name: String,
        file: String,
        /// ` (needed by app@1.0.0)` when a requested package depends on it.
        needed_by: String,
    },
}

/// Short-hand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the action and the path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            action,
            path: path.into(),
            source,
        })
    }
}
