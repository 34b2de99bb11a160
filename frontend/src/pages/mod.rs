//! The two pages: send (`/`) and receive (`/s/{id}#{secret}`).
pub mod receive;
pub mod send;

use ferry_worker::Phase;

/// What a phase looks like to a person.
pub fn phase_text(phase: Phase, sending: bool) -> &'static str {
    match (phase, sending) {
        (Phase::DerivingKeys, _) => "Deriving keys from the passphrase…",
        (Phase::Connecting, _) => "Connecting to the server…",
        (Phase::Transferring, true) => "Encrypting and uploading…",
        (Phase::Transferring, false) => "Downloading and decrypting…",
        (Phase::Finishing, true) => "Finishing the upload…",
        (Phase::Finishing, false) => "Finishing the download…",
    }
}
