//! Enrichers: consumer groups from MD_RAW to MD_ENRICHED.

pub mod state;
