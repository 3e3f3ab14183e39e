//! The last log lines of this run, kept in memory (secrets removed as they arrive) so that
//! "Copy diagnostics" and `c2c-pair doctor` can include them.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

use crate::redact::redact;

/// Lines kept.
pub const KEPT: usize = 200;

static LINES: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// A `tracing_subscriber` writer that appends each event to the in-memory buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogBuffer;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter(Vec::new())
    }
}

/// Collects one event's text; it lands in the buffer when dropped.
#[derive(Debug)]
pub struct EventWriter(Vec<u8>);

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let mut lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if lines.len() == KEPT {
                lines.pop_front();
            }
            lines.push_back(redact(line));
        }
    }
}

/// The kept lines, oldest first.
pub fn recent() -> Vec<String> {
    LINES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_redacted() {
        for i in 0..KEPT + 5 {
            let mut writer = EventWriter(Vec::new());
            let _ = writeln!(writer, "line {i} refresh_token=Zx9vQ2mK7pL4");
        }
        let lines = recent();
        assert_eq!(lines.len(), KEPT);
        assert_eq!(lines[0], "line 5 refresh_token=[redacted]");
        assert_eq!(
            lines[KEPT - 1],
            format!("line {} refresh_token=[redacted]", KEPT + 4)
        );
    }
}
