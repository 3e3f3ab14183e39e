//! The benchmark harness shared by `cargo bench` and its smoke test: statistics, process
//! readings from `/proc`, and the Markdown sections that `scripts/bench.sh` gathers into
//! BENCHMARKS.md. Every figure is a ratio against a floor measured in the same run.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

pub mod bare;
pub mod pairing;
pub mod process;
pub mod upload;

use std::fmt::Write as _;
use std::path::PathBuf;

/// One measured figure against its floor and budget.
#[derive(Debug, Clone)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The value, in `unit`.
    pub value: f64,
    /// The floor it is compared with, in `unit` (`None` when the figure is itself a ratio).
    pub floor: Option<f64>,
    /// Unit of value and floor.
    pub unit: &'static str,
    /// The budget, in words.
    pub budget: String,
    /// Whether the budget holds.
    pub met: bool,
}

impl Figure {
    /// Value divided by floor, when there is a floor.
    pub fn ratio(&self) -> Option<f64> {
        self.floor.filter(|f| *f > 0.0).map(|f| self.value / f)
    }
}

/// A section of BENCHMARKS.md: a title, the command that reproduces it, figures and notes.
#[derive(Debug, Default)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// The command that reproduces it.
    pub command: String,
    /// Its figures.
    pub figures: Vec<Figure>,
    /// Notes below the table (how, caveats, missed budgets).
    pub notes: Vec<String>,
}

impl Section {
    /// A new section.
    pub fn new(title: &str, command: &str) -> Self {
        Self {
            title: title.to_owned(),
            command: command.to_owned(),
            ..Self::default()
        }
    }

    /// Adds a figure.
    pub fn figure(
        &mut self,
        name: impl Into<String>,
        value: f64,
        floor: Option<f64>,
        unit: &'static str,
        budget: impl Into<String>,
        met: bool,
    ) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            floor,
            unit,
            budget: budget.into(),
            met,
        });
    }

    /// The section as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = format!("## {}\n\n`{}`\n\n", self.title, self.command);
        md.push_str(
            "| figure | value | floor | ratio | budget | met |\n|---|---|---|---|---|---|\n",
        );
        for f in &self.figures {
            let floor = f
                .floor
                .map_or_else(|| "—".to_owned(), |v| format!("{} {}", round(v), f.unit));
            let ratio = f
                .ratio()
                .map_or_else(|| "—".to_owned(), |r| format!("{r:.3}"));
            let _ = writeln!(
                md,
                "| {} | {} {} | {floor} | {ratio} | {} | {} |",
                f.name,
                if f.unit == "×" {
                    format!("{:.4}", f.value)
                } else {
                    round(f.value)
                },
                f.unit,
                f.budget,
                if f.met { "yes" } else { "**no**" }
            );
        }
        for note in &self.notes {
            let _ = write!(md, "\n{note}\n");
        }
        md
    }

    /// Prints the section and writes it to `target/bench/<file>.md` for the report.
    pub fn publish(&self, file: &str) {
        let md = self.markdown();
        println!("{md}");
        let dir = bench_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{file}.md")), md).unwrap();
    }

    /// Whether every budget holds.
    pub fn all_met(&self) -> bool {
        self.figures.iter().all(|f| f.met)
    }
}

/// Where sections are written: `target/bench/`.
pub fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench")
}

fn round(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    percentile(values, 50.0)
}

/// The `p`th percentile by nearest rank (sorts in place); 0 for no values.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Resident memory of a process in MiB (`VmRSS`), or its peak (`VmHWM`).
pub fn rss_mib(pid: u32, peak: bool) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let key = if peak { "VmHWM:" } else { "VmRSS:" };
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}
