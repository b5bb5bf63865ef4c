//! Moved to the contract crate: `ds_schemas::subjects` (shim, removed after merge).
pub use ds_schemas::subjects::*;
