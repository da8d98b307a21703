//! CPU time read from Linux's `/proc`, for benchmarks that share the machine's cores between a
//! load generator, Pilotline and PostgreSQL: what each side spent on a run, so a figure per
//! transaction can be set beside the throughput. Elsewhere every reading is zero.

use std::path::Path;
use std::sync::OnceLock;

/// Seconds of CPU (user + system) spent so far, by side.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuReading {
    /// This process's live threads whose name starts with the prefix asked for.
    pub named_threads: f64,
    /// The rest of this process: its other threads, with those that have exited.
    pub other_threads: f64,
    /// Every PostgreSQL server process on this machine, with the backends that have exited
    /// (counted by the postmaster that reaped them).
    pub postgres: f64,
    /// This process's children that have exited and been waited for.
    pub children: f64,
}

impl CpuReading {
    /// The CPU spent between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuReading) -> CpuReading {
        CpuReading {
            named_threads: self.named_threads - earlier.named_threads,
            other_threads: self.other_threads - earlier.other_threads,
            postgres: self.postgres - earlier.postgres,
            children: self.children - earlier.children,
        }
    }
}

/// Reads every side's CPU now; `thread_prefix` names this process's threads counted apart.
pub fn read(thread_prefix: &str) -> CpuReading {
    let mut r = CpuReading::default();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Some((comm, f)) = stat(&t.path())
                && comm.starts_with(thread_prefix)
            {
                r.named_threads += ticks(&f, 11) + ticks(&f, 12);
            }
        }
    }
    // The process's own figure keeps the CPU of threads that have exited.
    if let Some((_, f)) = stat(Path::new("/proc/self")) {
        r.other_threads = ticks(&f, 11) + ticks(&f, 12) - r.named_threads;
        r.children = ticks(&f, 13) + ticks(&f, 14);
    }
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let is_pid = p
                .file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if !is_pid {
                continue;
            }
            if let Some((comm, f)) = stat(&p.path())
                && comm.starts_with("postgres")
            {
                r.postgres += ticks(&f, 11) + ticks(&f, 12) + ticks(&f, 13) + ticks(&f, 14);
            }
        }
    }
    r
}

/// The command name and the fields after it of `dir/stat` (`fields[0]` is field 3, the state).
fn stat(dir: &Path) -> Option<(String, Vec<String>)> {
    let text = std::fs::read_to_string(dir.join("stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let fields = text[close + 1..]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Some((comm, fields))
}

/// Field `i` of `fields` (clock ticks) in seconds.
fn ticks(fields: &[String], i: usize) -> f64 {
    let n: f64 = fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    n / clock_ticks()
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 when it cannot be asked).
fn clock_ticks() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}
