//! One module per subcommand: its flags and what it runs.

pub mod bench;
pub mod creds;
pub mod dlq;
pub mod enrich;
pub mod feed;
pub mod gateway;
pub mod project;
pub mod replay;
pub mod schema;
pub mod sub;
pub mod topology;
pub mod up;
pub mod user;
