//! CPU time and peak memory of a process, from /proc (Linux).

/// What /proc says about a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStat {
    /// User + system CPU seconds so far.
    pub cpu_secs: f64,
    /// Peak resident memory (VmHWM) in MiB.
    pub peak_rss_mib: f64,
    /// Current resident memory (VmRSS) in MiB.
    pub rss_mib: f64,
}

/// Reads `pid`'s CPU time and memory; zeros when it is gone.
pub fn read(pid: u32) -> ProcStat {
    let mut out = ProcStat::default();
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            // SAFETY: sysconf has no preconditions.
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            out.cpu_secs = (ticks(11) + ticks(12)) / hz;
        }
    }
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        let kib = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        out.peak_rss_mib = kib("VmHWM:") / 1024.0;
        out.rss_mib = kib("VmRSS:") / 1024.0;
    }
    out
}
