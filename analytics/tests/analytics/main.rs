//! Integration tests of `ds-analytics`: case tables and property tests.

mod bars;
mod bs;
mod calendar;
mod chain;
mod iv;
mod market;
mod oi;
mod surface;
mod universe;

use chrono::{NaiveDate, TimeZone, Utc};

/// `y-mo-d h:mi:s` UTC as unix nanoseconds.
fn utc_ns(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

/// The date `y-m-d`.
fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}
