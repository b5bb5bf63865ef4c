//! NATS subject patterns (`*` one token, `>` one or more at the end): which
//! stream holds a subject, and the filter to read it there with.

/// Whether every subject `a` matches is matched by `b`.
pub fn is_within(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(_), Some(">")) => return true,
            (Some(">"), Some(_)) => return false,
            (Some(p), Some(q)) if q == "*" || p == q => {}
            _ => return false,
        }
    }
}

/// Whether some subject is matched by both `a` and `b`.
pub fn overlaps(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (Some(p), Some(q)) if p == "*" || q == "*" || p == q => {}
            _ => return false,
        }
    }
}

/// The filter that reads `wanted` from a stream of `stream_subjects`, if the
/// stream holds any of it: `wanted` itself, or the stream's own subject when
/// `wanted` is wider (`md.>` on `md.raw.>`).
pub fn filter_in(wanted: &str, stream_subjects: &[String]) -> Vec<String> {
    stream_subjects
        .iter()
        .filter(|s| overlaps(wanted, s))
        .map(|s| {
            if is_within(s, wanted) {
                s.clone()
            } else {
                wanted.to_owned()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_and_overlap() {
        for (a, b, within, overlap) in [
            ("md.raw.NIFTY.underlying", "md.raw.>", true, true),
            ("md.raw.>", "md.>", true, true),
            ("md.>", "md.raw.>", false, true),
            ("md.enriched.NIFTY.>", "md.raw.>", false, false),
            ("md.*.NIFTY.underlying", "md.raw.>", false, true),
            ("md.raw", "md.raw.>", false, false),
            ("md.raw.*", "md.raw.*", true, true),
            ("md.raw.X", "md.raw.*", true, true),
            ("md.raw.*", "md.raw.X", false, true),
        ] {
            assert_eq!(is_within(a, b), within, "{a} within {b}");
            assert_eq!(overlaps(a, b), overlap, "{a} overlaps {b}");
        }
    }

    #[test]
    fn filters() {
        let raw = vec!["md.raw.>".to_owned()];
        assert_eq!(filter_in("md.>", &raw), vec!["md.raw.>"]);
        assert_eq!(filter_in("md.raw.NIFTY.>", &raw), vec!["md.raw.NIFTY.>"]);
        assert!(filter_in("md.enriched.>", &raw).is_empty());
    }
}
