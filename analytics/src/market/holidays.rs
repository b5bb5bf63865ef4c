//! Exchange holiday calendars: NSE's published lists and NYSE's rules.
//!
//! NSE fixes its holidays by lunar festivals and announces them each December,
//! so they are data (`data/nse_holidays.csv`, embedded at build time). NYSE's
//! are rules (fixed dates with weekend observance, nth weekdays, Good Friday),
//! so they are computed for any year, plus the unscheduled closures listed below.
//! The crypto exchange has none.

use std::sync::OnceLock;

use chrono::{Datelike, Days, NaiveDate, Weekday};

use super::Exchange;

/// The embedded NSE list (see the file's header for its sources and scope).
const NSE_HOLIDAYS_CSV: &str = include_str!("data/nse_holidays.csv");

/// NYSE closures no rule predicts (national days of mourning, storms), in the
/// years the US rules below claim to cover.
const US_UNSCHEDULED_CLOSURES: [(i32, u32, u32); 1] = [
    (2025, 1, 9), // National Day of Mourning for President Jimmy Carter
];

/// First year the US rules are complete for (Juneteenth is an NYSE holiday from 2022).
const US_RULES_FROM_YEAR: i32 = 2022;

/// Parses the embedded NSE list: sorted dates. A malformed line would be a bug
/// in the shipped data; the unit tests parse every line, so it is skipped here
/// rather than failing a running program.
fn nse_holidays() -> &'static [NaiveDate] {
    static LIST: OnceLock<Vec<NaiveDate>> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut dates: Vec<NaiveDate> = data_lines(NSE_HOLIDAYS_CSV)
            .filter_map(|(date, _)| NaiveDate::parse_from_str(date, "%Y-%m-%d").ok())
            .collect();
        dates.sort_unstable();
        dates.dedup();
        dates
    })
}

/// `(date, reason)` of every non-comment, non-blank line.
fn data_lines(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once(',').unwrap_or((l, "")))
}

/// Whether the NSE list has a line in `year` (every published year has several).
fn nse_lists_year(year: i32) -> bool {
    nse_holidays().iter().any(|d| d.year() == year)
}

/// Whether `exchange`'s holiday calendar is known for `year`. Outside it the
/// calendar knows only weekends (so a live feed keeps running in a year NSE has
/// not published yet); callers that generate history should warn.
/// NSE: the years of the embedded list; US: 2022 onwards (unscheduled closures
/// of future years cannot be known); crypto: always.
#[must_use]
pub fn calendar_covers(exchange: Exchange, year: i32) -> bool {
    match exchange {
        Exchange::Nse => nse_lists_year(year),
        Exchange::Us => year >= US_RULES_FROM_YEAR,
        Exchange::Crypto => true,
    }
}

/// Whether `date` is a listed holiday of `exchange` (a weekday closure;
/// weekends are not holidays here, see [`super::is_trading_day`]).
#[must_use]
pub fn is_holiday(exchange: Exchange, date: NaiveDate) -> bool {
    match exchange {
        Exchange::Nse => nse_holidays().binary_search(&date).is_ok(),
        Exchange::Us => is_us_holiday(date),
        Exchange::Crypto => false,
    }
}

/// The weekday holidays of `exchange` in `year`, ascending (empty for a year
/// the NSE list does not cover, and always for crypto).
#[must_use]
pub fn holidays(exchange: Exchange, year: i32) -> Vec<NaiveDate> {
    match exchange {
        Exchange::Nse => nse_holidays()
            .iter()
            .copied()
            .filter(|d| d.year() == year)
            .collect(),
        Exchange::Us => us_holidays(year),
        Exchange::Crypto => Vec::new(),
    }
}

/// The dated reasons of the NSE list, for display (`date`, `reason`).
#[must_use]
pub fn nse_holiday_reasons() -> Vec<(NaiveDate, &'static str)> {
    data_lines(NSE_HOLIDAYS_CSV)
        .filter_map(|(d, why)| Some((NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?, why)))
        .collect()
}

/// NYSE's holidays of `year` (weekday closures), ascending.
///
/// Rules: New Year's Day (Sunday → Monday; a Saturday New Year is not moved
/// to the Friday before, which closes the previous year), Martin Luther King
/// Jr. Day (3rd Monday of January), Washington's Birthday (3rd Monday of
/// February), Good Friday, Memorial Day (last Monday of May), Juneteenth (from
/// 2022), Independence Day, Labor Day (1st Monday of September), Thanksgiving
/// (4th Thursday of November) and Christmas; fixed-date holidays on a Saturday
/// are observed the Friday before, on a Sunday the Monday after. Early closes
/// (13:00 on some eves) are not modelled: every session ends at 16:00.
#[must_use]
pub fn us_holidays(year: i32) -> Vec<NaiveDate> {
    let mut out: Vec<NaiveDate> = us_rule_holidays(year)
        .into_iter()
        .flatten()
        .chain(us_unscheduled(year))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether `date` is an NYSE holiday, without allocating (it is asked per tick).
fn is_us_holiday(date: NaiveDate) -> bool {
    let year = date.year();
    us_rule_holidays(year).contains(&Some(date)) || us_unscheduled(year).any(|d| d == date)
}

/// The rule-based NYSE holidays of `year` (see [`us_holidays`]); `None` for a
/// holiday that is not observed that year.
fn us_rule_holidays(year: i32) -> [Option<NaiveDate>; 10] {
    let nth = |month, weekday, n| NaiveDate::from_weekday_of_month_opt(year, month, weekday, n);
    let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day).and_then(observed);
    [
        NaiveDate::from_ymd_opt(year, 1, 1).and_then(observed_new_year),
        nth(1, Weekday::Mon, 3),
        nth(2, Weekday::Mon, 3),
        easter_sunday(year).and_then(|e| e.checked_sub_days(Days::new(2))),
        nth(5, Weekday::Mon, 5).or_else(|| nth(5, Weekday::Mon, 4)),
        (year >= US_RULES_FROM_YEAR).then(|| fixed(6, 19)).flatten(),
        fixed(7, 4),
        nth(9, Weekday::Mon, 1),
        nth(11, Weekday::Thu, 4),
        fixed(12, 25),
    ]
}

fn us_unscheduled(year: i32) -> impl Iterator<Item = NaiveDate> {
    US_UNSCHEDULED_CLOSURES
        .iter()
        .filter(move |(y, _, _)| *y == year)
        .filter_map(|&(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
}

/// A fixed-date holiday's observed day: Saturday → Friday, Sunday → Monday.
fn observed(date: NaiveDate) -> Option<NaiveDate> {
    match date.weekday() {
        Weekday::Sat => date.pred_opt(),
        Weekday::Sun => date.succ_opt(),
        _ => Some(date),
    }
}

/// New Year's Day: Sunday → Monday; Saturday → not observed (NYSE rule 7.2).
fn observed_new_year(date: NaiveDate) -> Option<NaiveDate> {
    match date.weekday() {
        Weekday::Sat => None,
        _ => observed(date),
    }
}

/// Easter Sunday of the Gregorian calendar (the anonymous Gregorian algorithm,
/// Meeus/Jones/Butcher).
#[must_use]
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn every_line_of_the_nse_list_parses_in_order_on_a_weekday() {
        let lines: Vec<(&str, &str)> = data_lines(NSE_HOLIDAYS_CSV).collect();
        assert!(lines.len() >= 40, "{} lines", lines.len());
        let mut prev = None;
        for (d, why) in &lines {
            let day =
                NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap_or_else(|e| panic!("{d:?}: {e}"));
            assert!(!why.trim().is_empty(), "{d}: no reason");
            assert!(
                !matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
                "{d} is a weekend"
            );
            assert!(prev < Some(day), "{d} out of order");
            prev = Some(day);
        }
        assert_eq!(nse_holidays().len(), lines.len());
        assert_eq!(nse_holiday_reasons().len(), lines.len());
    }

    #[test]
    fn easter_table() {
        for (y, m, d) in [
            (2000, 4, 23),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
        ] {
            assert_eq!(easter_sunday(y), Some(date(y, m, d)), "{y}");
        }
    }

    #[test]
    fn published_nyse_calendars() {
        // NYSE's published holiday lists.
        let y2025 = [
            (1, 1),
            (1, 9),
            (1, 20),
            (2, 17),
            (4, 18),
            (5, 26),
            (6, 19),
            (7, 4),
            (9, 1),
            (11, 27),
            (12, 25),
        ];
        let y2026 = [
            (1, 1),
            (1, 19),
            (2, 16),
            (4, 3),
            (5, 25),
            (6, 19),
            (7, 3),
            (9, 7),
            (11, 26),
            (12, 25),
        ];
        let y2027 = [
            (1, 1),
            (1, 18),
            (2, 15),
            (3, 26),
            (5, 31),
            (6, 18),
            (7, 5),
            (9, 6),
            (11, 25),
            (12, 24),
        ];
        let y2024 = [
            (1, 1),
            (1, 15),
            (2, 19),
            (3, 29),
            (5, 27),
            (6, 19),
            (7, 4),
            (9, 2),
            (11, 28),
            (12, 25),
        ];
        for (year, list) in [
            (2024, &y2024[..]),
            (2025, &y2025[..]),
            (2026, &y2026[..]),
            (2027, &y2027[..]),
        ] {
            let want: Vec<NaiveDate> = list.iter().map(|&(m, d)| date(year, m, d)).collect();
            assert_eq!(us_holidays(year), want, "{year}");
        }
        // 2022: New Year on a Saturday is not observed; Juneteenth (Sunday) on Monday 20th.
        let y2022 = us_holidays(2022);
        assert!(!y2022.contains(&date(2021, 12, 31)) && y2022[0] == date(2022, 1, 17));
        assert!(y2022.contains(&date(2022, 6, 20)));
        // 2023: New Year on a Sunday is observed on Monday 2nd.
        assert_eq!(us_holidays(2023)[0], date(2023, 1, 2));
        // No Juneteenth before 2022.
        assert!(!us_holidays(2021).iter().any(|d| d.month() == 6));
    }

    #[test]
    fn the_per_date_check_agrees_with_the_list() {
        let mut d = date(2022, 1, 1);
        while d < date(2031, 1, 1) {
            assert_eq!(is_us_holiday(d), us_holidays(d.year()).contains(&d), "{d}");
            d = d.succ_opt().unwrap();
        }
    }

    #[test]
    fn coverage() {
        assert!((2024..=2026).all(|y| calendar_covers(Exchange::Nse, y)));
        assert!(!calendar_covers(Exchange::Nse, 2023));
        assert!(calendar_covers(Exchange::Us, 2027));
        assert!(!calendar_covers(Exchange::Us, 2021));
        assert!(calendar_covers(Exchange::Crypto, 1999));
        assert_eq!(holidays(Exchange::Nse, 2025).len(), 14);
        assert_eq!(holidays(Exchange::Nse, 2026).len(), 16);
        assert!(holidays(Exchange::Nse, 2027).is_empty());
        assert!(holidays(Exchange::Crypto, 2025).is_empty());
    }
}
