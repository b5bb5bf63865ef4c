//! I/O plumbing shared by every DeltaStream component: configuration, NATS and
//! MongoDB connections, the JetStream topology, the `Ds-Schema`/`Nats-Msg-Id`
//! headers as NATS header maps, the dead-letter queue's I/O, and local
//! `nats-server`/`mongod` child processes.

pub mod auth;
pub mod backoff;
pub mod collections;
pub mod config;
pub mod connect;
pub mod dlq;
pub mod error;
pub mod footprint;
pub mod headers;
pub mod limits;
pub mod metrics;
pub mod mongo;
pub mod nats;
pub mod publish;
pub mod servers;
pub mod shutdown;
pub mod telemetry;
pub mod topology;

pub use config::Config;
pub use error::{Error, Result};
