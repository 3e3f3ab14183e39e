//! What the views ask for. Each view returns intents; the app queues them and applies them
//! once, at the end of the frame (rerun's pending commands), where every view and the
//! context are at hand — so no flag carries a wish to the next frame.

use std::path::PathBuf;

use secrecy::SecretString;

use super::fleet::FleetAction;
use super::pairing::Action;
use super::presenter::PresenterKey;
use crate::device::DeviceId;
use crate::import::Entry;

/// One thing the user asked for.
pub enum Intent {
    /// Pair the device typed in the form (the form clears when the run starts).
    PairTyped {
        /// Its id.
        device_id: DeviceId,
        /// Its optional name.
        name: Option<String>,
    },
    /// Pair every device of the pasted or dropped list (the list clears when all start).
    PairList(Vec<Entry>),
    /// A button on one pairing card.
    Card {
        /// The card's run.
        run: u64,
        /// The button.
        action: Action,
    },
    /// An action in the device list.
    Fleet(FleetAction),
    /// Open the booth screen.
    EnterPresenter,
    /// A key on the booth screen (or its timer asking for the next code).
    Booth(PresenterKey),
    /// Full screen on or off (F11).
    ToggleFullscreen,
    /// Gather diagnostics, then copy them.
    Diagnose,
    /// Save the client secret in the keychain.
    SaveSecret(SecretString),
    /// Read a dropped list of devices.
    Import(PathBuf),
}
