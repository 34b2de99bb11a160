//! Running the (deliberately slow) key schedule off the async threads.
use ferry_common::{Header, Keys, LinkSecret};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Derives the share's keys on a blocking thread (Argon2id takes a noticeable moment).
pub async fn derive_keys(
    header: Header,
    passphrase: Zeroizing<String>,
    secret: Option<LinkSecret>,
) -> Result<Keys> {
    tokio::task::spawn_blocking(move || Keys::derive(&header, &passphrase, secret.as_ref()))
        .await
        .map_err(|e| Error::Other(format!("key derivation failed: {e}")))?
        .map_err(Error::from_envelope)
}
