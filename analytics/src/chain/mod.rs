//! One option chain (one product, one expiry): validation, per-quote IV and
//! Greeks, the illiquid-quote flag, chain analytics (PCR, ATM, max pain) and
//! full enrichment.

mod analytics;
mod enrich;
mod input;

pub use analytics::{atm_index, chain_analytics, max_pain_index, pcr, ChainAnalytics};
pub use enrich::{enrich_chain, enrich_quote, smile_ivs, EnrichedChainOut, EnrichedQuote, Implied};
pub use input::{validate_chain, ChainInput, Quote};
