//! Moved to the contract crate: `ds_schemas::enriched`; headers in `ds_runtime::headers` (shim, removed after merge).
pub use ds_runtime::headers::EnrichedHeaders;
pub use ds_schemas::enriched::*;
