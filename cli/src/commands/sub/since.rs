//! `--since`: where a JetStream read starts — a stream sequence or a time.

use std::str::FromStr;

/// Numbers from here up are unix milliseconds (2001-09-09 onwards); below it,
/// stream sequences (no stream here gets near 10^12 messages).
const UNIX_MS_FROM: u64 = 1_000_000_000_000;

/// The start of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This stream sequence, in each stream read.
    Seq(u64),
    /// The first message stored at or after this time (unix nanoseconds).
    Time(i64),
}

impl FromStr for Since {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u64>() {
            if n < UNIX_MS_FROM {
                return Ok(Since::Seq(n));
            }
            let ns = i64::try_from(n)
                .ok()
                .and_then(|ms| ms.checked_mul(1_000_000))
                .ok_or_else(|| format!("{s} is too far in the future"))?;
            return Ok(Since::Time(ns));
        }
        let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
            format!("{s:?} is neither a stream sequence, an RFC 3339 time nor unix milliseconds")
        })?;
        t.timestamp_nanos_opt()
            .map(Since::Time)
            .ok_or_else(|| format!("{s} is out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_times_and_garbage() {
        assert_eq!("1".parse(), Ok(Since::Seq(1)));
        assert_eq!("999999999999".parse(), Ok(Since::Seq(999_999_999_999)));
        assert_eq!(
            "1736935200000".parse(),
            Ok(Since::Time(1_736_935_200_000_000_000))
        );
        assert_eq!(
            "2025-01-15T10:00:00Z".parse(),
            Ok(Since::Time(1_736_935_200_000_000_000))
        );
        assert_eq!(
            "2025-01-15T15:30:00+05:30".parse(),
            Ok(Since::Time(1_736_935_200_000_000_000))
        );
        assert!("yesterday".parse::<Since>().is_err());
        assert!("-5".parse::<Since>().is_err());
    }
}
