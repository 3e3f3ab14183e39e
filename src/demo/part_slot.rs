//! One reception per part at a time: a newer upload of a part takes over from the one under
//! way, which stops and removes its file first, so forty parallel uploads of one part never
//! hold more than one part's bytes on disk. The newest wins, as a client's retry after a
//! connection it gave up on must (the server may not have noticed that one is gone).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;

/// Longest a newer upload of a part waits for the one it takes over from to stop.
const TAKE_OVER_WAIT: Duration = Duration::from_secs(10);

/// A part's one reception at a time.
#[derive(Debug, Default)]
pub struct PartSlot {
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Cancelled to tell the reception holding the turn to stop.
    current: Mutex<CancellationToken>,
}

impl PartSlot {
    /// Takes the part's turn: the reception under way (if any) is told to stop, and its end
    /// is awaited (so its file is gone first). `None` if it did not end in time.
    pub async fn take_over(&self) -> Option<Turn> {
        let mine = CancellationToken::new();
        let before = std::mem::replace(
            &mut *self.current.lock().unwrap_or_else(PoisonError::into_inner),
            mine.clone(),
        );
        before.cancel();
        let held = tokio::time::timeout(TAKE_OVER_WAIT, Arc::clone(&self.turn).lock_owned())
            .await
            .ok()?;
        Some(Turn {
            _held: held,
            superseded: mine,
        })
    }
}

/// A reception's turn at its part; a newer upload of the part cancels [`Turn::superseded`].
#[derive(Debug)]
pub struct Turn {
    _held: OwnedMutexGuard<()>,
    /// Cancelled when a newer upload of the part takes over.
    pub superseded: CancellationToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_newer_upload_of_a_part_takes_over_once_the_older_stopped() {
        let slot = Arc::new(PartSlot::default());
        let first = slot.take_over().await.unwrap();
        let taking = tokio::spawn({
            let slot = Arc::clone(&slot);
            async move {
                slot.take_over()
                    .await
                    .map(|turn| turn.superseded.is_cancelled())
            }
        });
        first.superseded.cancelled().await;
        assert!(!taking.is_finished(), "waits for the first to stop");
        drop(first);
        assert_eq!(
            taking.await.unwrap(),
            Some(false),
            "the newer one holds the turn"
        );
    }
}
