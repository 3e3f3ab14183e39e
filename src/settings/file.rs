//! Reading the configuration file: `toml` parses it with the place of every key and value,
//! and each value is read by its setting's declaration, so an error names the line.

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{ALL, Layer, SettingsError};

/// The file's text; `None` when a default location holds no file.
pub fn read(path: &Path, explicit: bool) -> Result<Option<String>, SettingsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(None),
        Err(e) => Err(SettingsError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

/// Parses a configuration file's text; an error names the line (the first in the file, when
/// there are several).
pub fn parse_file(path: &Path, text: &str) -> Result<Layer, SettingsError> {
    let at = |start: usize, message: String| located(path, text, start, message);
    let document = DeTable::parse(text).map_err(|error| {
        let start = error.span().map_or(0, |span| span.start);
        at(start, one_line(error.message()))
    })?;
    let mut layer = Layer::default();
    let mut errors = Vec::new();
    read_table(document.get_ref(), "", &mut layer, &mut errors);
    match errors.into_iter().min_by_key(|(start, _)| *start) {
        Some((start, message)) => Err(at(start, message)),
        None => Ok(layer),
    }
}

/// Reads the settings in `table` (the keys below `prefix`), noting each error with where it is.
fn read_table(
    table: &DeTable<'_>,
    prefix: &str,
    layer: &mut Layer,
    errors: &mut Vec<(usize, String)>,
) {
    for (name, value) in table {
        let key = match prefix {
            "" => name.get_ref().to_string(),
            _ => format!("{prefix}.{}", name.get_ref()),
        };
        if let Some(spec) = ALL.iter().find(|spec| spec.key() == key) {
            match spec.read_toml(value.get_ref()) {
                Ok(Some(read)) => layer.set(spec.key(), read),
                Ok(None) => {}
                Err(message) => errors.push((value.span().start, message)),
            }
        } else if is_table(&key) {
            match value.get_ref() {
                DeValue::Table(inner) => read_table(inner, &key, layer, errors),
                other => errors.push((
                    value.span().start,
                    format!(
                        "invalid type: {}, expected a table ([{key}])",
                        super::spec::toml_text(other)
                    ),
                )),
            }
        } else {
            errors.push((name.span().start, unknown(name, prefix)));
        }
    }
}

/// Whether some setting's key lies in the table `key`.
fn is_table(key: &str) -> bool {
    ALL.iter().any(|spec| {
        spec.key()
            .strip_prefix(key)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// "unknown field `heartbeet`, expected one of …": the names valid beside it.
fn unknown(name: &Spanned<std::borrow::Cow<'_, str>>, prefix: &str) -> String {
    let mut valid: Vec<&str> = Vec::new();
    for spec in ALL {
        let rest = match prefix {
            "" => Some(spec.key()),
            _ => spec
                .key()
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('.')),
        };
        if let Some(first) = rest.and_then(|rest| rest.split('.').next())
            && !valid.contains(&first)
        {
            valid.push(first);
        }
    }
    let valid = valid
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "unknown field `{}`, expected one of {valid}",
        crate::printable::text(name.get_ref())
    )
}

/// A parser's message on one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The error at byte `start` of the file: its line number and text.
fn located(path: &Path, text: &str, start: usize, message: String) -> SettingsError {
    let start = start.min(text.len());
    let before = text.get(..start).unwrap_or(text);
    let line = before.matches('\n').count().saturating_add(1);
    SettingsError::File {
        path: path.display().to_string(),
        line,
        text: text
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or("")
            .trim_end()
            .to_owned(),
        message,
    }
}
