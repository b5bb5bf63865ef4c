//! Moved: the builder to `ds_schemas::dead_letter`, the I/O to `ds_runtime::dlq` (shim, removed after merge).
pub use ds_runtime::dlq::*;
pub use ds_schemas::dead_letter::{letter, Source};
