//! Comments from the device (spec §3.8): `c2c-pair comment`, and the note a test upload
//! leaves ("Rig check from &lt;laptop&gt; at &lt;time&gt;").

use super::super::session::with_access;
use crate::c2c::assets::Comment;
use crate::device::{Context, LifecycleError};
use crate::printable;
use crate::registry::DeviceRecord;

/// Comments on `asset_id` as the device: on frame `frame` (from 0), or on the whole asset.
/// The token is refreshed first when due, and once more on a 401.
pub async fn comment(
    ctx: &Context,
    record: &DeviceRecord,
    asset_id: &str,
    text: &str,
    frame: Option<u64>,
) -> Result<Comment, LifecycleError> {
    let client = &*ctx.client(record);
    with_access(ctx, record, |token| async move {
        client.comment(&token, asset_id, text, frame).await
    })
    .await
}

/// The note a test upload leaves: "Rig check from &lt;this computer's name&gt; at &lt;local time&gt;".
pub fn rig_check_note() -> String {
    let host = gethostname::gethostname();
    let host = printable::printable(&host.to_string_lossy(), 64);
    let host = if host.is_empty() {
        "this computer".to_owned()
    } else {
        host
    };
    let now = jiff::ZonedDateTime::now();
    format!(
        "Rig check from {host} at {}",
        now.strftime("%Y-%m-%d %H:%M %Z")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rig_check_note_names_the_computer_and_the_time() {
        let note = rig_check_note();
        assert!(note.starts_with("Rig check from "), "{note}");
        assert!(note.contains(" at 2"), "a year 2xxx date: {note}");
        assert!(printable::is_printable(&note));
    }
}
