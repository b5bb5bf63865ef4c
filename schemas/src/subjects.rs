//! The subject grammar of SPEC §2: building and parsing `md.raw.*`, `md.enriched.*`
//! and `md.dlq.*` subjects.

/// Stream of raw market data.
pub const STREAM_RAW: &str = "MD_RAW";
/// Stream of enriched analytics.
pub const STREAM_ENRICHED: &str = "MD_ENRICHED";
/// Stream of dead letters.
pub const STREAM_DLQ: &str = "MD_DLQ";

/// Product token used for messages whose product is missing or malformed.
pub const UNKNOWN_PRODUCT: &str = "_";

/// Every enriched subject.
pub const ALL_ENRICHED: &str = "md.enriched.>";
/// Every subject of `MD_RAW`.
pub const ALL_RAW: &str = "md.raw.>";
/// Every dead-letter subject.
pub const ALL_DLQ: &str = "md.dlq.>";
/// Where a DLQ re-drive is asked for (request/reply): the body names an
/// `MD_DLQ` sequence ([`crate::dead_letter::retry_request`]), the answer is a
/// [`crate::dead_letter::RetryReply`]. The gateway asks; a responder that may
/// write the log (`deltastream enrich`'s) re-drives.
pub const DLQ_RETRY: &str = "ds.admin.dlq.retry";
/// Longest replay prefix accepted, in bytes.
pub const MAX_REPLAY_PREFIX_LEN: usize = 128;

/// `md.raw.<P>.underlying`
pub fn raw_underlying(product: &str) -> String {
    format!("md.raw.{product}.underlying")
}
/// `md.raw.<P>.chain.<EXPIRY>`
pub fn raw_chain(product: &str, expiry: &str) -> String {
    format!("md.raw.{product}.chain.{expiry}")
}
/// `md.raw.<P>.>`: everything raw of one product.
pub fn raw_product(product: &str) -> String {
    format!("md.raw.{product}.>")
}
/// `md.enriched.<P>.underlying`
pub fn enriched_underlying(product: &str) -> String {
    format!("md.enriched.{product}.underlying")
}
/// `md.enriched.<P>.bar.<INTERVAL>`
pub fn enriched_bar(product: &str, interval: &str) -> String {
    format!("md.enriched.{product}.bar.{interval}")
}
/// `md.enriched.<P>.chain.<EXPIRY>`
pub fn enriched_chain(product: &str, expiry: &str) -> String {
    format!("md.enriched.{product}.chain.{expiry}")
}
/// `md.enriched.<P>.summary`
pub fn enriched_summary(product: &str) -> String {
    format!("md.enriched.{product}.summary")
}
/// `md.dlq.<PROCESSOR>.<P>`
pub fn dlq(processor: &str, product: &str) -> String {
    format!("md.dlq.{processor}.{product}")
}

/// What a raw subject addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawSubject<'a> {
    /// `md.raw.<P>.underlying`
    Underlying {
        /// The product token.
        product: &'a str,
    },
    /// `md.raw.<P>.chain.<EXPIRY>`
    Chain {
        /// The product token.
        product: &'a str,
        /// The ISO expiry date, as written in the subject.
        expiry: &'a str,
    },
}

impl<'a> RawSubject<'a> {
    /// The product token.
    pub fn product(&self) -> &'a str {
        match self {
            RawSubject::Underlying { product } | RawSubject::Chain { product, .. } => product,
        }
    }
}

/// Why a subject is not a valid raw subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed subject {subject:?}: {reason}")]
pub struct SubjectError {
    /// The subject.
    pub subject: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Whether `s` is a valid product token (`[A-Z0-9_]+`).
pub fn is_product_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `s` looks like an ISO date `YYYY-MM-DD` (shape only).
pub fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// Checks a replay prefix (`deltastream replay --publish-prefix`, `GET
/// /ws?replay=`): dot-separated tokens of `[A-Za-z0-9_-]` (a literal subject,
/// so no wildcards or spaces), at most [`MAX_REPLAY_PREFIX_LEN`] bytes, outside
/// the live and system namespaces (first token not `md` or `_INBOX`; `$…` is
/// excluded by the alphabet).
///
/// # Errors
/// A sentence saying what is wrong.
pub fn validate_replay_prefix(prefix: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("bad replay prefix {prefix:?}: {why}"));
    if prefix.is_empty() {
        return bad("empty");
    }
    if prefix.len() > MAX_REPLAY_PREFIX_LEN {
        return bad(&format!("longer than {MAX_REPLAY_PREFIX_LEN} bytes"));
    }
    for token in prefix.split('.') {
        if token.is_empty() {
            return bad("empty token");
        }
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return bad(
                "tokens may only hold A-Z a-z 0-9 _ - (a literal subject: no spaces or wildcards)",
            );
        }
    }
    let first = prefix.split('.').next().unwrap_or_default();
    if first == "md" || first == "_INBOX" {
        return bad("would land in the live or system namespace (md.*, _INBOX.*)");
    }
    Ok(())
}

/// Parses a raw subject.
///
/// # Errors
/// [`SubjectError`] naming what is wrong.
pub fn parse_raw(subject: &str) -> Result<RawSubject<'_>, SubjectError> {
    let err = |reason| SubjectError {
        subject: subject.to_owned(),
        reason,
    };
    let mut parts = subject.split('.');
    if parts.next() != Some("md") || parts.next() != Some("raw") {
        return Err(err("does not start with md.raw"));
    }
    let product = parts.next().ok_or_else(|| err("no product token"))?;
    if !is_product_token(product) {
        return Err(err("product token is not [A-Z0-9_]+"));
    }
    let kind = parts.next().ok_or_else(|| err("no message kind"))?;
    let parsed = match kind {
        "underlying" => RawSubject::Underlying { product },
        "chain" => {
            let expiry = parts.next().ok_or_else(|| err("chain without expiry"))?;
            if !is_iso_date(expiry) {
                return Err(err("expiry is not YYYY-MM-DD"));
            }
            RawSubject::Chain { product, expiry }
        }
        _ => return Err(err("kind is neither underlying nor chain")),
    };
    if parts.next().is_some() {
        return Err(err("trailing tokens"));
    }
    Ok(parsed)
}

/// The product token of any `md.<kind>.<P>...` subject when it is well-formed,
/// else [`UNKNOWN_PRODUCT`] (used to route dead letters).
pub fn product_or_unknown(subject: &str) -> &str {
    match subject.split('.').nth(2) {
        Some(p) if is_product_token(p) => p,
        _ => UNKNOWN_PRODUCT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_raw_subjects() {
        assert_eq!(
            parse_raw("md.raw.NIFTY.underlying"),
            Ok(RawSubject::Underlying { product: "NIFTY" })
        );
        assert_eq!(
            parse_raw("md.raw.BANK_NIFTY2.chain.2025-01-30"),
            Ok(RawSubject::Chain {
                product: "BANK_NIFTY2",
                expiry: "2025-01-30"
            })
        );
    }

    #[test]
    fn rejects_malformed_subjects() {
        for s in [
            "md.raw",
            "md.raw.nifty.underlying",
            "md.raw.NIFTY",
            "md.raw.NIFTY.trades",
            "md.raw.NIFTY.chain",
            "md.raw.NIFTY.chain.30-01-2025",
            "md.raw.NIFTY.underlying.x",
            "md.enriched.NIFTY.underlying",
            "md.raw..underlying",
        ] {
            assert!(parse_raw(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn replay_prefixes() {
        for ok in ["replay.demo", "replay.20250115-abc", "a", "x_y.Z-9.q"] {
            assert!(validate_replay_prefix(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_REPLAY_PREFIX_LEN + 1);
        for bad in [
            "",
            "md",
            "md.x",
            "_INBOX.y",
            "$JS.x",
            "replay..x",
            ".replay",
            "replay.",
            "replay.*",
            "replay.>",
            "a b",
            "replay.dé",
            long.as_str(),
        ] {
            assert!(validate_replay_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_product_token() {
        assert_eq!(product_or_unknown("md.raw.NIFTY.underlying"), "NIFTY");
        assert_eq!(product_or_unknown("md.raw.ni-fty.underlying"), "_");
        assert_eq!(product_or_unknown("md.raw"), "_");
    }
}
