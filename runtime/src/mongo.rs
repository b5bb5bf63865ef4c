//! Connecting to MongoDB with journaled writes, and classifying its errors.

use crate::{Error, Result};
use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};
use std::time::Duration;

/// Default MongoDB URL when none is configured.
pub const DEFAULT_URL: &str = "mongodb://127.0.0.1:27017";
/// Default database name.
pub const DEFAULT_DB: &str = "deltastream";

const HINT: &str = "Start one with `deltastream up` (embedded servers) or `mongod --dbpath <dir>`, or set DS_MONGO_URL";

/// Connects to `url` and checks the server answers, with every write journaled
/// (`j: true`, SPEC §5) so an acknowledged write survives a `kill -9` of mongod.
///
/// # Errors
/// [`Error::Unreachable`] naming the URL when no server answers within a few seconds.
pub async fn connect(url: &str, db: &str) -> Result<mongodb::Database> {
    let unreachable = |reason: String| Error::Unreachable {
        what: "MongoDB",
        url: url.to_owned(),
        reason,
        hint: HINT,
    };
    let mut opts = ClientOptions::parse(url)
        .await
        .map_err(|e| Error::Config(format!("bad MongoDB URL {url:?}: {e}")))?;
    opts.app_name = Some("deltastream".into());
    opts.server_selection_timeout = Some(Duration::from_secs(4));
    opts.connect_timeout = Some(Duration::from_secs(3));
    opts.write_concern = Some(
        WriteConcern::builder()
            .w(Acknowledgment::Nodes(1))
            .journal(true)
            .build(),
    );
    let client = mongodb::Client::with_options(opts).map_err(|e| unreachable(e.to_string()))?;
    let database = client.database(db);
    database
        .run_command(mongodb::bson::doc! { "ping": 1 })
        .await
        .map_err(|e| unreachable(first_line(&e.to_string())))?;
    Ok(database)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).chars().take(200).collect()
}

/// Whether a server error code names a state that passes: network and
/// timeouts (HostUnreachable 6, HostNotFound 7, MaxTimeMSExpired 50,
/// NetworkTimeout 89, NetworkInterfaceExceededTimeLimit 202, ExceededTimeLimit
/// 262, SocketException 9001), shutting down (ShutdownInProgress 91,
/// InterruptedAtShutdown 11600), and no writable primary (PrimarySteppedDown 189,
/// NotWritablePrimary 10107, LegacyNotPrimary 10058, InterruptedDueToReplStateChange
/// 11602, NotPrimaryNoSecondaryOk 13435, NotPrimaryOrSecondary 13436). Anything
/// else (validation 121, BSONObjectTooLarge 10334, BadValue 2 …) fails again.
pub fn is_transient_code(code: i32) -> bool {
    const TRANSIENT_CODES: &[i32] = &[
        6, 7, 50, 89, 91, 189, 202, 262, 9001, 10058, 10107, 11600, 11602, 13435, 13436,
    ];
    TRANSIENT_CODES.contains(&code)
}

/// Whether a MongoDB error may go away on retry (server down, network, election),
/// as opposed to a bad request that will fail the same way again.
pub fn is_transient(e: &mongodb::error::Error) -> bool {
    use mongodb::error::ErrorKind;
    if e.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR)
        || e.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
    {
        return true;
    }
    let code = match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        // The write may or may not have happened: retry (every write is idempotent).
        ErrorKind::Write(mongodb::error::WriteFailure::WriteConcernError(_)) => return true,
        ErrorKind::InsertMany(im) if im.write_concern_error.is_some() => return true,
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => Some(w.code),
        _ => None,
    };
    if code.is_some_and(is_transient_code) {
        return true;
    }
    matches!(
        *e.kind,
        ErrorKind::Io(_)
            | ErrorKind::ServerSelection { .. }
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
            | ErrorKind::Internal { .. }
    )
}
