//! An invitation link (`/#invite=fi1.…`): taken out of the address at once, checked with
//! the server, and shown above the drop zone with what it allows.
use ferry_common::{DEFAULT_CHUNK_SIZE, TAG_LEN, protocol::ErrorCode};
use leptos::prelude::*;
use wasm_bindgen::JsValue;

use crate::{api, format, tr};

/// The fragment key of an invitation link.
const FRAGMENT_KEY: &str = "#invite=";

/// Where the invitation this page was opened with stands.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum InvitationState {
    /// The server is being asked.
    Checking,
    /// It can be used for one file of at most `max_bytes` ciphertext bytes, until
    /// `expires_at` (milliseconds since the Unix epoch).
    Usable {
        /// The largest ciphertext it admits.
        max_bytes: u64,
        /// Until when.
        expires_at: i64,
    },
    /// It cannot be used, for this reason: the server's sentence (used, expired,
    /// revoked...) or why the server could not be asked.
    Unusable(String),
    /// This page just used it for a file.
    Used,
}

/// The invitation a link brought: the credential (in this page's memory only) and its
/// state.
#[derive(Clone, Copy)]
pub(crate) struct Invited {
    credential: StoredValue<String>,
    /// Where it stands.
    pub(crate) state: RwSignal<InvitationState>,
}

impl Invited {
    /// Takes an invitation out of the address's fragment, if there is one, and starts
    /// checking it. The fragment is removed from the address bar at once, so that it
    /// stays out of the history, bookmarks and screenshots (the server never saw it:
    /// browsers do not send fragments).
    pub(crate) fn from_address() -> Option<Invited> {
        let location = window().location();
        let hash = location.hash().ok()?;
        let credential = hash.strip_prefix(FRAGMENT_KEY)?.to_owned();
        let bare = format!(
            "{}{}",
            location.pathname().unwrap_or_else(|_| "/".into()),
            location.search().unwrap_or_default()
        );
        if let Ok(history) = window().history() {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&bare));
        }
        let invited = Invited {
            credential: StoredValue::new(credential.clone()),
            state: RwSignal::new(InvitationState::Checking),
        };
        leptos::task::spawn_local(async move {
            invited
                .state
                .set(match api::check_invitation(&credential).await {
                    Ok(inv) => InvitationState::Usable {
                        max_bytes: inv.max_bytes,
                        expires_at: inv.expires_at,
                    },
                    Err(e) => InvitationState::Unusable(e.message()),
                });
        });
        Some(invited)
    }

    /// The credential for the upload's `start`.
    pub(crate) fn credential(&self) -> String {
        self.credential.get_value()
    }

    /// Whether a file may be chosen and sent with it now.
    pub(crate) fn usable(&self) -> bool {
        self.state
            .with(|s| matches!(s, InvitationState::Usable { .. }))
    }

    /// Why a file of `size` plaintext bytes cannot be sent with it, checked before any
    /// upload (the server would refuse it with `quota-exceeded`).
    pub(crate) fn refuses(&self, size: u64) -> Option<String> {
        let InvitationState::Usable { max_bytes, .. } = self.state.get_untracked() else {
            return None;
        };
        (ciphertext_len(size) > max_bytes).then(|| {
            tr!(
                "invitation-too-large",
                size = format::bytes(size),
                max = format::bytes(largest_plaintext(max_bytes))
            )
        })
    }

    /// Takes the outcome of an upload with it: committed (it is used now), or refused
    /// because the server no longer takes it.
    pub(crate) fn upload_ended(&self, refused: Option<(ErrorCode, &str)>) {
        match refused {
            None => self.state.set(InvitationState::Used),
            Some((ErrorCode::CredentialRefused | ErrorCode::CredentialRequired, why)) => {
                self.state.set(InvitationState::Unusable(why.to_owned()));
            }
            Some(_) => {}
        }
    }
}

/// Ciphertext bytes of a `size`-byte file under the page's chunk size (what an
/// invitation's `max_bytes` counts).
pub(crate) fn ciphertext_len(size: u64) -> u64 {
    let chunks = size.div_ceil(u64::from(DEFAULT_CHUNK_SIZE)).max(1);
    size + chunks * TAG_LEN as u64
}

/// The largest file whose ciphertext fits in `max_bytes` (the size to tell people).
pub(crate) fn largest_plaintext(max_bytes: u64) -> u64 {
    let sealed = u64::from(DEFAULT_CHUNK_SIZE) + TAG_LEN as u64;
    let full = max_bytes / sealed;
    let rest = (max_bytes % sealed).saturating_sub(TAG_LEN as u64);
    full * u64::from(DEFAULT_CHUNK_SIZE) + rest
}

/// What the invitation allows, or why it cannot be used, or that it was.
#[component]
pub(crate) fn InvitationBanner(
    /// The invitation the page was opened with.
    invited: Invited,
) -> impl IntoView {
    view! {
        <p role="status" class="invitation">
            {move || match invited.state.get() {
                InvitationState::Checking => tr!("invitation-checking"),
                InvitationState::Usable { max_bytes, expires_at } => {
                    tr!(
                        "invitation-usable",
                        max = format::bytes(largest_plaintext(max_bytes)),
                        until = format::when(expires_at)
                    )
                }
                InvitationState::Unusable(why) => tr!("invitation-unusable", why = why),
                InvitationState::Used => tr!("invitation-used"),
            }}
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size told to people is the largest file that the server then admits: one byte
    /// more would need more ciphertext than the invitation allows.
    #[test]
    fn the_largest_plaintext_fits_and_one_more_byte_does_not() {
        for size in [
            1u64,
            1000,
            262_144,
            262_145,
            100 * 1024 * 1024,
            5_000_000_007,
        ] {
            let max = ciphertext_len(size);
            assert_eq!(largest_plaintext(max), size, "{size}");
            assert!(ciphertext_len(largest_plaintext(max) + 1) > max, "{size}");
        }
    }
}
