//! The settings written out: `config show` (the values in effect, as a usable file) and the
//! reference of every setting (the README's table, `config docs`), both from the declarations.

use std::fmt::Write as _;

use super::{ALL, Settings, Spec, env_name};

/// The table a key lives in (`""` for the top level) and its name there.
fn split(key: &str) -> (&str, &str) {
    key.rsplit_once('.').unwrap_or(("", key))
}

/// The settings grouped by table, the top level first, tables in the order declared.
fn by_table() -> Vec<(&'static str, Vec<&'static dyn Spec>)> {
    let mut tables: Vec<(&'static str, Vec<&'static dyn Spec>)> = vec![("", Vec::new())];
    for &spec in ALL {
        let (table, _) = split(spec.key());
        match tables.iter_mut().find(|(name, _)| *name == table) {
            Some((_, specs)) => specs.push(spec),
            None => tables.push((table, vec![spec])),
        }
    }
    tables
}

impl Settings {
    /// The settings in effect as TOML, each with where it came from; usable as a file.
    pub fn show(&self) -> String {
        let mut out =
            String::from("# c2c-pair configuration in effect (secrets are never shown).\n");
        let _ = match (&self.file, self.file_found) {
            (Some(path), true) => writeln!(out, "# File: {}", path.display()),
            (Some(path), false) => writeln!(out, "# File: {} (not found)", path.display()),
            (None, _) => writeln!(out, "# File: none (no config directory for this user)"),
        };
        out.push_str(
            "# Overrides: C2C_PAIR_<KEY> variables (C2C_PAIR_ENDPOINTS_TOKEN for \
             [endpoints] token), then command-line options.\n\n",
        );
        for (table, specs) in by_table() {
            if !table.is_empty() {
                let _ = writeln!(out, "\n[{table}]");
            }
            for spec in specs {
                let (_, name) = split(spec.key());
                let (value, note) = spec.shown(self);
                let assignment = format!("{name} = {value}");
                let source = self.source(spec.key()).describe();
                let _ = writeln!(out, "{assignment:<44} # {source}{note}");
            }
        }
        out
    }
}

/// Every setting as a Markdown table: key, value, default, environment variable, option and
/// what it does. The README's settings table is this text (a test keeps them equal).
pub fn reference() -> String {
    let mut out = String::from(
        "| key | value | default | environment | option | |\n|---|---|---|---|---|---|\n",
    );
    for &spec in ALL {
        let option = match spec.option() {
            Some(option) if option.switch.is_some() => format!("`--{}`", option.long),
            Some(option) => format!("`--{} {}`", option.long, spec.value_name()),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | `{}` | {option} | {} |",
            spec.key(),
            spec.describe(),
            spec.default_doc(),
            env_name(spec.key()),
            spec.help().replace('|', "\\|"),
        );
    }
    out
}
