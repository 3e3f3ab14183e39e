//! Small helpers for error messages shared across modules.

/// An error and its causes in one line ("error sending request: connection refused"),
/// skipping causes whose text the line already holds.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
