//! The two pages: send (`/`) and receive (`/s/{id}#{secret}`).
pub mod receive;
pub mod send;

use std::borrow::Cow;

use ferry_worker::{Phase, reconnect::MAX_TRIES};

/// What a phase looks like to a person.
pub fn phase_text(phase: Phase, sending: bool) -> Cow<'static, str> {
    match (phase, sending) {
        (Phase::DerivingKeys, _) => "Deriving keys from the passphrase…".into(),
        (Phase::Connecting, _) => "Connecting to the server…".into(),
        (Phase::Transferring, true) => "Encrypting and uploading…".into(),
        (Phase::Transferring, false) => "Downloading and decrypting…".into(),
        (Phase::Finishing, true) => "Finishing the upload…".into(),
        (Phase::Finishing, false) => "Finishing the download…".into(),
        (Phase::Reconnecting { attempt }, _) => {
            format!("The connection was lost. Reconnecting… (attempt {attempt} of {MAX_TRIES})")
                .into()
        }
    }
}
