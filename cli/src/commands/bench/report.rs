//! The benchmark report: one row per figure with its in-run ceiling, target and
//! verdict, printed as a table or as JSON.

use serde::Serialize;

/// Whether a figure meets its target.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Meets the target.
    Pass,
    /// Misses it (the row says by how much).
    Short,
    /// No target: informational.
    Info,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Section (ceiling, pipeline, latency, replay, rest, websocket).
    pub section: &'static str,
    /// What was measured.
    pub figure: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// value ÷ the in-run ceiling it is compared with, when there is one.
    pub ratio_to_ceiling: Option<f64>,
    /// The target, in words (e.g. "≥ 50% of ceiling", "< 10 ms").
    pub target: Option<String>,
    /// Pass / short / info.
    pub verdict: Verdict,
    /// By how much a target is missed, in words.
    pub note: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// Facts about the machine.
    pub machine: Machine,
    /// The figures.
    pub rows: Vec<Row>,
}

/// Facts about the machine the figures were measured on.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// nats-server version.
    pub nats_server: String,
    /// mongod version.
    pub mongod: String,
    /// Whether the binary was built with optimizations.
    pub release_build: bool,
}

impl Machine {
    /// Reads /proc and the servers' versions.
    pub fn read(nats_version: String, mongod_version: String) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Self {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: kib / 1024.0 / 1024.0,
            nats_server: nats_version,
            mongod: mongod_version,
            release_build: !cfg!(debug_assertions),
        }
    }
}

impl Verdict {
    /// Pass or short.
    pub fn of(pass: bool) -> Self {
        if pass {
            Verdict::Pass
        } else {
            Verdict::Short
        }
    }

    /// As the table's result column shows it.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Short => "SHORT",
            Verdict::Info => "",
        }
    }
}

impl Row {
    /// An informational figure: no ceiling, no target.
    pub fn info(
        section: &'static str,
        figure: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Self {
        Row {
            section,
            figure: figure.into(),
            value,
            unit,
            ratio_to_ceiling: None,
            target: None,
            verdict: Verdict::Info,
            note: None,
        }
    }
}

impl Report {
    /// Adds an informational figure.
    pub fn info(
        &mut self,
        section: &'static str,
        figure: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) {
        self.rows.push(Row::info(section, figure, value, unit));
    }

    /// Adds a figure that must be at least `min_ratio` of `ceiling`.
    pub fn at_least_ratio(
        &mut self,
        section: &'static str,
        figure: impl Into<String>,
        value: f64,
        unit: &'static str,
        ceiling: f64,
        min_ratio: f64,
    ) {
        let ratio = if ceiling > 0.0 { value / ceiling } else { 0.0 };
        let pass = ratio >= min_ratio;
        self.rows.push(Row {
            ratio_to_ceiling: Some(ratio),
            target: Some(format!("≥ {:.0}% of ceiling", min_ratio * 100.0)),
            verdict: Verdict::of(pass),
            note: (!pass).then(|| format!("{:.0} points short", (min_ratio - ratio) * 100.0)),
            ..Row::info(section, figure, value, unit)
        });
    }

    /// Adds a figure that must be below `max` (latency, time, memory).
    pub fn at_most(
        &mut self,
        section: &'static str,
        figure: impl Into<String>,
        value: f64,
        unit: &'static str,
        max: f64,
    ) {
        let pass = value <= max;
        self.rows.push(Row {
            target: Some(format!("≤ {max} {unit}")),
            verdict: Verdict::of(pass),
            note: (!pass).then(|| format!("{:.1}× the target", value / max)),
            ..Row::info(section, figure, value, unit)
        });
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "machine: {} ({} CPUs, {:.1} GiB), nats-server {}, mongod {}, {} build\n\n",
            m.cpu,
            m.cpus,
            m.memory_gib,
            m.nats_server,
            m.mongod,
            m.build()
        );
        out.push_str(&format!(
            "{:<10} {:<52} {:>14} {:<8} {:>8} {:<20} {:<6} {}\n",
            "section", "figure", "value", "unit", "ceiling", "target", "result", "note"
        ));
        for r in &self.rows {
            out.push_str(&format!(
                "{:<10} {:<52} {:>14} {:<8} {:>8} {:<20} {:<6} {}\n",
                r.section,
                r.figure,
                value_text(r.value),
                r.unit,
                r.ratio_to_ceiling
                    .map_or(String::new(), |x| format!("{:.0}%", x * 100.0)),
                r.target.clone().unwrap_or_default(),
                r.verdict.text(),
                r.note.clone().unwrap_or_default()
            ));
        }
        out
    }
}

impl Machine {
    /// The build, in words.
    pub fn build(&self) -> &'static str {
        if self.release_build {
            "release"
        } else {
            "DEBUG (figures not representative)"
        }
    }
}

/// A figure as the tables show it: whole above 100, else two decimals.
pub fn value_text(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The `p`-th percentile (0..=100) of `sorted` (ascending), 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }

    #[test]
    fn verdicts() {
        let mut r = Report::default();
        r.at_least_ratio("pipeline", "x", 40.0, "msg/s", 100.0, 0.5);
        r.at_most("latency", "p99", 5.0, "ms", 10.0);
        assert_eq!(r.rows[0].verdict, Verdict::Short);
        assert_eq!(r.rows[1].verdict, Verdict::Pass);
        assert!(r.table().contains("SHORT"));
    }
}
