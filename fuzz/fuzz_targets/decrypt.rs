//! Hostile bytes into every parser that reads what the server hands a recipient: the
//! header, the sealed metadata and the chunk stream. None may panic.
#![no_main]
use ferry_common::{BufferedDecryptor, FileMetadata, Header, KdfParams, Keys, LinkSecret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Header::parse(data.get(..40).unwrap_or(data));
    let Some((&selector, rest)) = data.split_first() else { return };
    let header = Header {
        passphrase_only: false,
        kdf: KdfParams { m_cost: 8, t_cost: 1, p_cost: 1 },
        salt: [0; 16],
        chunk_size: u32::from(selector % 64) + 1,
    };
    // unwrap: fixed, valid parameters.
    let keys = Keys::derive(&header, "fuzz", Some(&LinkSecret::from_bytes([1; 16]))).unwrap();
    let _ = FileMetadata::open(rest, &keys.metadata, &header);
    let mut dec = BufferedDecryptor::new(&keys.payload, &header);
    for piece in rest.chunks(37) {
        if dec.push(piece).is_err() {
            return;
        }
    }
    let _ = dec.finish();
});
