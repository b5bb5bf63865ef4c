//! The header names every published message carries (SPEC §2): `Ds-Schema`,
//! `Nats-Msg-Id`, and `traceparent` when tracing is on. The NATS header map
//! glue (building and reading `async_nats::HeaderMap`s) is `ds_runtime::headers`:
//! this crate stays free of any client library.

pub use crate::schema::SCHEMA_HEADER;

/// JetStream's de-duplication header.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";
/// W3C trace context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";
