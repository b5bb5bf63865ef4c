//! The side-by-side report: each figure measured against nats-server A and B
//! in the same run, with B ÷ A.

use super::report::{value_text, Machine, Row, Verdict};
use serde::Serialize;

/// A nats-server the figures were measured against.
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    /// `A` or `B`.
    pub label: &'static str,
    /// The binary.
    pub path: String,
    /// What `--version` said.
    pub version: String,
    /// Who may connect: `open` or `users` (DeltaStream's users and permissions).
    pub auth: &'static str,
}

/// One side's measurement of a figure.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// The value.
    pub value: f64,
    /// value ÷ that side's in-run ceiling, when there is one.
    pub ratio_to_ceiling: Option<f64>,
    /// Pass / short / info.
    pub verdict: Verdict,
    /// By how much a target is missed, in words.
    pub note: Option<String>,
}

impl From<&Row> for Side {
    fn from(r: &Row) -> Self {
        Self {
            value: r.value,
            ratio_to_ceiling: r.ratio_to_ceiling,
            verdict: r.verdict,
            note: r.note.clone(),
        }
    }
}

/// A figure against both servers.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    /// Section.
    pub section: &'static str,
    /// What was measured (both sides' words when they differ).
    pub figure: String,
    /// Its unit.
    pub unit: &'static str,
    /// The target, in words.
    pub target: Option<String>,
    /// Against server A.
    pub a: Option<Side>,
    /// Against server B.
    pub b: Option<Side>,
    /// B's value ÷ A's (none when A's is 0 or a side is missing).
    pub b_over_a: Option<f64>,
}

/// The whole side-by-side report.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Facts about the machine (`nats_server` names both).
    pub machine: Machine,
    /// Servers A and B.
    pub nats_servers: [Server; 2],
    /// The figures.
    pub rows: Vec<Compared>,
}

impl Comparison {
    /// Pairs the rows of A and B: both sides run the same sections in the same
    /// order, so the n-th row of one is the n-th of the other.
    pub fn new(mut machine: Machine, servers: [Server; 2], a: &[Row], b: &[Row]) -> Self {
        let [a_server, b_server] = &servers;
        machine.nats_server = format!(
            "A: {} ({}); B: {} ({})",
            a_server.version, a_server.auth, b_server.version, b_server.auth
        );
        let rows = (0..a.len().max(b.len()))
            .map(|i| compared(a.get(i), b.get(i)))
            .collect();
        Self {
            machine,
            nats_servers: servers,
            rows,
        }
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "machine: {} ({} CPUs, {:.1} GiB), mongod {}, {} build\n",
            m.cpu,
            m.cpus,
            m.memory_gib,
            m.mongod,
            m.build()
        );
        for s in &self.nats_servers {
            out.push_str(&format!(
                "{}: {}, {} ({})\n",
                s.label, s.version, s.auth, s.path
            ));
        }
        out.push_str(
            "each section ran against A and B in turn (A first, then B first, alternating)\n\n",
        );
        out.push_str(&format!(
            "{:<10} {:<52} {:>12} {:>12} {:>7} {:<8} {:<20} {:<6} {:<6}\n",
            "section", "figure", "A", "B", "B/A", "unit", "target", "A", "B"
        ));
        for r in &self.rows {
            let side = |s: &Option<Side>| s.as_ref().map_or(String::new(), |s| value_text(s.value));
            let verdict = |s: &Option<Side>| s.as_ref().map_or("", |s| s.verdict.text());
            out.push_str(&format!(
                "{:<10} {:<52} {:>12} {:>12} {:>7} {:<8} {:<20} {:<6} {:<6}\n",
                r.section,
                r.figure,
                side(&r.a),
                side(&r.b),
                r.b_over_a.map_or(String::new(), |x| format!("{x:.2}")),
                r.unit,
                r.target.clone().unwrap_or_default(),
                verdict(&r.a),
                verdict(&r.b),
            ));
        }
        out
    }
}

/// One figure from A's row and B's.
fn compared(a: Option<&Row>, b: Option<&Row>) -> Compared {
    let first = a.or(b);
    let figure = match (a, b) {
        (Some(a), Some(b)) if a.figure != b.figure => format!("{} | {}", a.figure, b.figure),
        _ => first.map(|r| r.figure.clone()).unwrap_or_default(),
    };
    let b_over_a = match (a, b) {
        (Some(a), Some(b)) if a.value != 0.0 => Some(b.value / a.value),
        _ => None,
    };
    Compared {
        section: first.map_or("", |r| r.section),
        figure,
        unit: first.map_or("", |r| r.unit),
        target: first.and_then(|r| r.target.clone()),
        a: a.map(Side::from),
        b: b.map(Side::from),
        b_over_a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::bench::report::Report;

    fn server(label: &'static str) -> Server {
        Server {
            label,
            path: format!("/bin/{label}"),
            version: format!("v{label}"),
            auth: "open",
        }
    }

    #[test]
    fn pairs_rows_and_divides_b_by_a() {
        let mut a = Report::default();
        a.info("ceiling", "publish", 100.0, "msg/s");
        a.at_most("latency", "p99", 4.0, "ms", 10.0);
        let mut b = Report::default();
        b.info("ceiling", "publish", 150.0, "msg/s");
        b.at_most("latency", "p99", 12.0, "ms", 10.0);
        b.info("rest", "only B", 1.0, "count");
        let c = Comparison::new(
            Machine::default(),
            [server("A"), server("B")],
            &a.rows,
            &b.rows,
        );
        assert_eq!(c.rows.len(), 3);
        assert_eq!(c.rows[0].b_over_a, Some(1.5));
        assert_eq!(c.rows[1].a.as_ref().map(|s| s.verdict), Some(Verdict::Pass));
        assert_eq!(
            c.rows[1].b.as_ref().map(|s| s.verdict),
            Some(Verdict::Short)
        );
        assert!(c.rows[2].a.is_none() && c.rows[2].b_over_a.is_none());
        assert_eq!(c.machine.nats_server, "A: vA (open); B: vB (open)");
        let table = c.table();
        assert!(table.contains("A: vA, open (/bin/A)"), "{table}");
        assert!(table.contains("1.50"), "{table}");
    }
}
