//! The replay's summary on stdout: a line per product, the totals, and how it
//! read beside live traffic.

use ds_processors::replay::{ProductReport, ReplayReport};

/// Prints the whole summary.
pub fn print(report: &ReplayReport) {
    for p in &report.products {
        println!("{}", product_line(p));
    }
    for s in &report.skipped {
        println!("  {:<10} skipped: {}", s.product, s.reason);
    }
    println!("{}", totals_line(report));
    if let Some(line) = yield_line(report) {
        println!("{line}");
    }
}

/// An event time as RFC 3339, in seconds.
fn event_time(ns: Option<i64>) -> String {
    ns.map(|n| {
        chrono::DateTime::from_timestamp_nanos(n).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
    .unwrap_or_else(|| "no message of the day yet".into())
}

fn product_line(p: &ProductReport) -> String {
    format!(
        "  {:<10} seq {}..{} ({}): {} messages, {} of the day, {} outputs, {} documents{}{}{}",
        p.product,
        p.first_seq,
        p.last_seq,
        p.location,
        p.messages,
        p.day_messages,
        p.outputs,
        p.documents,
        if p.deleted > 0 {
            format!(", {} stale documents deleted", p.deleted)
        } else {
            String::new()
        },
        if p.poison > 0 {
            format!(", {} invalid messages skipped (as in the DLQ)", p.poison)
        } else {
            String::new()
        },
        if p.completed {
            String::new()
        } else {
            format!(
                " — stopped at seq {} ({})",
                p.done_seq,
                event_time(p.last_event_unix_ns)
            )
        },
    )
}

fn totals_line(report: &ReplayReport) -> String {
    let target_text = match (&report.database, report.in_place) {
        (Some(d), true) => format!(" in place in {d}"),
        (Some(d), false) => format!(" into {d}"),
        (None, _) => String::new(),
    };
    let published = report
        .publish_prefix
        .as_ref()
        .map(|p| format!(", re-published on {p}.md.enriched.>"))
        .unwrap_or_default();
    format!(
        "{} {}: {} products, {} messages ({} of the day), {} outputs, {} documents{target_text}{published} in {:.2} s ({:.0} msgs/s)",
        if report.interrupted { "interrupted replay of" } else { "replayed" },
        report.date,
        report.products.len(),
        report.messages(),
        report.day_messages(),
        report.outputs(),
        report.documents(),
        report.elapsed.as_secs_f64(),
        report.rate()
    )
}

fn yield_line(report: &ReplayReport) -> Option<String> {
    let y = report.yielded;
    (y.read_beside_live > 0).then(|| {
        format!(
            "live enrichers were active: {} messages read at most {} msgs/s beside them",
            y.read_beside_live,
            y.live_cap.map_or_else(|| "∞".into(), |c| format!("{c:.0}"))
        )
    })
}
