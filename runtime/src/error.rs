//! The runtime's error type, classified by whether a retry can help.

/// Errors of the shared runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A server the component needs is not reachable (start it, or fix the URL).
    #[error("{what} is not reachable at {url}: {reason}. {hint}")]
    Unreachable {
        /// `NATS` or `MongoDB`.
        what: &'static str,
        /// The URL that was tried.
        url: String,
        /// The underlying cause.
        reason: String,
        /// How to start one.
        hint: &'static str,
    },
    /// A binary the component needs to start is not installed.
    #[error("{binary} not found (looked in {looked}); run `scripts/setup.sh` to install it")]
    MissingBinary {
        /// The program name.
        binary: &'static str,
        /// Where it was looked for.
        looked: String,
    },
    /// A local server process failed to start or answer.
    #[error("{what} did not start: {reason}")]
    ServerStart {
        /// The program.
        what: &'static str,
        /// Why, with the tail of its log when there is one.
        reason: String,
    },
    /// Configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The server refused a publish or subscription of this identity: its
    /// permissions do not allow it (retrying cannot help).
    #[error("{0}")]
    PermissionDenied(crate::auth::violations::Violation),
    /// A JetStream call failed.
    #[error("JetStream: {0}")]
    JetStream(String),
    /// A MongoDB call failed.
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// A stored document does not have the layout its collection documents
    /// (README, "Stored chain layout"): written by something else, or damaged.
    #[error("stored document: {0}")]
    Document(String),
    /// File system or process I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::JetStream(_) | Error::Io { .. } => true,
            Error::Mongo(e) => crate::mongo::is_transient(e),
            Error::MissingBinary { .. }
            | Error::ServerStart { .. }
            | Error::Config(_)
            | Error::PermissionDenied(_)
            | Error::Document(_) => false,
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps any JetStream error.
    pub fn js(e: impl std::fmt::Display) -> Self {
        Error::JetStream(e.to_string())
    }
}

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
