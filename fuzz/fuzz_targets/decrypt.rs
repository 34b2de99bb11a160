//! Hostile bytes into every parser that reads what the server hands a recipient: the
//! header, the sealed metadata and the chunk stream. None may panic.
#![no_main]
use std::sync::OnceLock;

use ferry_common::{BufferedDecryptor, FileMetadata, Header, KdfParams, Keys, LinkSecret};
use libfuzzer_sys::fuzz_target;

/// Keys derived once: at Ferry's KDF floor a derivation per input would slow fuzzing
/// a thousandfold. The header (with the input's chunk size) stays the associated data.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let header = Header {
            passphrase_only: false,
            kdf: KdfParams::FLOOR,
            salt: [0; 16],
            chunk_size: 64,
        };
        // unwrap: fixed, valid parameters.
        Keys::derive(&header, "fuzz", Some(&LinkSecret::from_bytes([1; 16]))).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Header::parse(data.get(..40).unwrap_or(data));
    let Some((&selector, rest)) = data.split_first() else { return };
    let header = Header {
        passphrase_only: false,
        kdf: KdfParams::FLOOR,
        salt: [0; 16],
        chunk_size: u32::from(selector % 64) + 1,
    };
    let keys = keys();
    let _ = FileMetadata::open(rest, &keys.metadata, &header);
    let mut dec = BufferedDecryptor::new(&keys.payload, &header);
    for piece in rest.chunks(37) {
        if dec.push(piece).is_err() {
            return;
        }
    }
    let _ = dec.finish();
});
