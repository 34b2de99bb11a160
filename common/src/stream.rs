//! STREAM (Hoang, Reyhanitabar, Rogaway, Vizár 2015) over AES-256-GCM, as in age.
//!
//! The plaintext is cut into chunks of `chunk_size` bytes; only the last may be shorter,
//! and it is empty only when the whole file is. Chunk `i` is sealed under the payload key
//! with the nonce `i` (11 bytes, big-endian) `||` last-flag (1 byte: 1 on the final chunk,
//! else 0) and the 40 header bytes as associated data. Reordering, dropping or duplicating
//! chunks breaks the counter; cutting the stream at a chunk boundary loses the last flag;
//! anything after the final chunk is refused.
use aes_gcm::{Aes256Gcm, Nonce as GcmNonce, aead::AeadInOut};

use crate::{
    Error, TAG_LEN,
    header::{HEADER_LEN, Header},
    keys::AeadKey,
};

/// The 12-byte STREAM nonce for chunk `counter`; public so WebCrypto can reproduce it.
pub fn chunk_nonce(counter: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    // The counter occupies bytes 0..11 big-endian; a u64 fills bytes 3..11.
    nonce[3..11].copy_from_slice(&counter.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// The STREAM bookkeeping shared by every AES-GCM engine: chunk counter, last flag and the
/// length rules. [`StreamEncryptor`] and [`StreamDecryptor`] use it with the `aes-gcm` crate;
/// the web app uses it with WebCrypto, so both engines enforce exactly the same rules.
#[derive(Clone, Debug)]
pub struct ChunkSequence {
    chunk_size: usize,
    counter: u64,
    finished: bool,
}

impl ChunkSequence {
    /// A sequence at chunk 0 for `header`'s chunk size.
    pub fn new(header: &Header) -> Self {
        ChunkSequence {
            chunk_size: header.chunk_size as usize,
            counter: 0,
            finished: false,
        }
    }

    /// Checks the next plaintext chunk's length and returns its nonce. Every chunk but the
    /// last is exactly `chunk_size` bytes; the last holds 1..=`chunk_size`, or 0 for an
    /// empty file. Call [`advance`](Self::advance) once the chunk is sealed.
    pub fn seal_nonce(&self, plaintext_len: usize, last: bool) -> Result<[u8; 12], Error> {
        if self.finished {
            return Err(Error::Misuse("after the final chunk"));
        }
        let ok_len = if last {
            plaintext_len <= self.chunk_size && (plaintext_len > 0 || self.counter == 0)
        } else {
            plaintext_len == self.chunk_size
        };
        if !ok_len {
            return Err(Error::Misuse("of the wrong size"));
        }
        Ok(chunk_nonce(self.counter, last))
    }

    /// Checks the next sealed chunk's length and returns its nonce; `last` says whether the
    /// caller expects the final chunk (the flag is authenticated). Call
    /// [`advance`](Self::advance) once the chunk verified.
    pub fn open_nonce(&self, sealed_len: usize, last: bool) -> Result<[u8; 12], Error> {
        if self.finished {
            return Err(Error::TrailingData);
        }
        let ok_len = if last {
            sealed_len >= TAG_LEN
                && sealed_len <= self.chunk_size + TAG_LEN
                && (sealed_len > TAG_LEN || self.counter == 0)
        } else {
            sealed_len == self.chunk_size + TAG_LEN
        };
        if !ok_len {
            return Err(Error::Corrupted);
        }
        Ok(chunk_nonce(self.counter, last))
    }

    /// Goes back (or forward) to chunk `counter`, not finished: the next nonce handed out
    /// is chunk `counter`'s. For a resumed upload that re-seals the chunks the server
    /// lacks. Re-sealing a chunk is safe ONLY over the very same plaintext (the same
    /// bytes of the same unchanged file): two different plaintexts under one nonce and key
    /// reveal their XOR and let anyone forge chunks (GCM).
    pub fn seek(&mut self, counter: u64) {
        self.counter = counter;
        self.finished = false;
    }

    /// Moves past a chunk that was sealed or verified.
    pub fn advance(&mut self, last: bool) {
        self.counter += 1;
        self.finished = last;
    }

    /// Chunks sealed or verified so far.
    pub fn chunks_done(&self) -> u64 {
        self.counter
    }

    /// True once the final chunk went through.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Succeeds only once the final chunk went through. A reader MUST check this before
    /// presenting a file as complete.
    pub fn finish(&self) -> Result<(), Error> {
        if self.finished {
            Ok(())
        } else {
            Err(Error::Truncated)
        }
    }
}

/// One share's chunk AEAD: AES-256-GCM under the payload key with the 40 header bytes as
/// associated data, sealing or opening one chunk under a nonce that a [`ChunkSequence`]
/// handed out. It keeps no counter, so several threads (the web app's Web Workers) can
/// seal or open chunks of one stream at once while a single `ChunkSequence` elsewhere
/// keeps the order, the lengths and the last flag. Never pass a nonce that did not come
/// from that sequence: two chunks sealed under one nonce and key break GCM.
#[derive(Clone)]
pub struct ChunkAead {
    cipher: Aes256Gcm,
    aad: [u8; HEADER_LEN],
}

impl ChunkAead {
    /// The chunk AEAD of `header`'s stream under the share's payload key.
    pub fn new(key: &AeadKey, header: &Header) -> Self {
        ChunkAead {
            cipher: key.cipher(),
            aad: header.to_bytes(),
        }
    }

    /// Seals `buf` (one chunk's plaintext) in place and appends the 16-byte tag.
    pub fn seal_in_place(&self, nonce: &[u8; 12], buf: &mut Vec<u8>) -> Result<(), Error> {
        self.cipher
            .encrypt_in_place(&GcmNonce::from(*nonce), &self.aad, buf)
            .map_err(|_| Error::Misuse("too large to seal"))
    }

    /// Opens `buf` (one sealed chunk) in place, leaving its plaintext; `Corrupted` if it
    /// does not verify under this nonce.
    pub fn open_in_place(&self, nonce: &[u8; 12], buf: &mut Vec<u8>) -> Result<(), Error> {
        self.cipher
            .decrypt_in_place(&GcmNonce::from(*nonce), &self.aad, buf)
            .map_err(|_| Error::Corrupted)
    }
}

/// Seals a file one chunk at a time with constant memory.
pub struct StreamEncryptor {
    aead: ChunkAead,
    seq: ChunkSequence,
}

impl StreamEncryptor {
    /// Starts a stream for `header` under the share's payload key.
    pub fn new(key: &AeadKey, header: &Header) -> Self {
        StreamEncryptor {
            aead: ChunkAead::new(key, header),
            seq: ChunkSequence::new(header),
        }
    }

    /// Seals the next chunk. Every chunk but the last must be exactly `chunk_size` bytes;
    /// the last (`last = true`) holds 1..=`chunk_size` bytes, or 0 for an empty file.
    /// After the last chunk the stream is finished and further calls fail.
    pub fn seal_chunk(&mut self, plaintext: &[u8], last: bool) -> Result<Vec<u8>, Error> {
        let nonce = self.seq.seal_nonce(plaintext.len(), last)?;
        let mut sealed = Vec::with_capacity(plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(plaintext);
        self.aead.seal_in_place(&nonce, &mut sealed)?;
        self.seq.advance(last);
        Ok(sealed)
    }

    /// Continues at chunk `counter` (see [`ChunkSequence::seek`]): only ever to re-seal
    /// the very same plaintext, as a resumed upload does.
    pub fn seek(&mut self, counter: u64) {
        self.seq.seek(counter);
    }

    /// True once the final chunk has been sealed. A caller MUST seal a final chunk: a
    /// stream without one is rejected as truncated.
    pub fn is_finished(&self) -> bool {
        self.seq.is_finished()
    }
}

/// Opens a stream whose chunk boundaries the caller knows (one WebSocket frame per chunk).
pub struct StreamDecryptor {
    aead: ChunkAead,
    seq: ChunkSequence,
}

impl StreamDecryptor {
    /// Starts opening a stream for `header` under the share's payload key.
    pub fn new(key: &AeadKey, header: &Header) -> Self {
        StreamDecryptor {
            aead: ChunkAead::new(key, header),
            seq: ChunkSequence::new(header),
        }
    }

    /// Opens the next sealed chunk; `last` says whether the caller expects it to be the
    /// final one. The flag is authenticated, so a wrong expectation fails verification.
    pub fn open_chunk(&mut self, sealed: &[u8], last: bool) -> Result<Vec<u8>, Error> {
        let nonce = self.seq.open_nonce(sealed.len(), last)?;
        let mut plain = sealed.to_vec();
        self.aead.open_in_place(&nonce, &mut plain)?;
        self.seq.advance(last);
        Ok(plain)
    }

    /// Continues at chunk `counter`: the next chunk opened is chunk `counter` (a download
    /// resumed after the chunks before it were verified and kept). Opening never seals,
    /// so unlike [`StreamEncryptor::seek`] this cannot reuse a nonce.
    pub fn seek(&mut self, counter: u64) {
        self.seq.seek(counter);
    }

    /// Number of chunks opened so far.
    pub fn chunks_opened(&self) -> u64 {
        self.seq.chunks_done()
    }

    /// Succeeds only if the final chunk was opened. A caller MUST call this before
    /// presenting the file as complete.
    pub fn finish(&self) -> Result<(), Error> {
        self.seq.finish()
    }
}

/// Opens a stream arriving as arbitrary byte pieces (a file, a socket), holding at most
/// one sealed chunk plus one piece: a full chunk is only released once more bytes show
/// it was not the final one.
pub struct BufferedDecryptor {
    inner: StreamDecryptor,
    buffer: Vec<u8>,
}

impl BufferedDecryptor {
    /// Starts opening a byte stream for `header` under the payload key.
    pub fn new(key: &AeadKey, header: &Header) -> Self {
        BufferedDecryptor {
            inner: StreamDecryptor::new(key, header),
            buffer: Vec::new(),
        }
    }

    /// Feeds bytes; returns the plaintext of every chunk now known not to be the last.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<u8>, Error> {
        let sealed_len = self.inner.seq.chunk_size + TAG_LEN;
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.inner.seq.finished {
                return Err(Error::TrailingData);
            }
            // Bytes beyond a full chunk prove that chunk was not the last.
            if self.buffer.len() == sealed_len {
                out.extend(self.inner.open_chunk(&self.buffer, false)?);
                self.buffer.clear();
            }
            let take = (sealed_len - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    /// Ends the stream: opens what is buffered as the final chunk.
    pub fn finish(mut self) -> Result<Vec<u8>, Error> {
        if self.inner.seq.finished {
            return Err(Error::TrailingData);
        }
        if self.buffer.len() < TAG_LEN {
            return Err(Error::Truncated);
        }
        let out = self.inner.open_chunk(&self.buffer, true)?;
        self.buffer.clear();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Keys, LinkSecret, header::KdfParams};

    fn setup(chunk_size: u32) -> (Keys, Header) {
        let header = Header {
            passphrase_only: false,
            kdf: KdfParams::FLOOR,
            salt: [3; 16],
            chunk_size,
        };
        let keys = Keys::derive(&header, "pw", Some(&LinkSecret::from_bytes([4; 16]))).unwrap();
        (keys, header)
    }

    fn seal_all(keys: &Keys, header: &Header, data: &[u8]) -> Vec<Vec<u8>> {
        let mut enc = StreamEncryptor::new(&keys.payload, header);
        let cs = header.chunk_size as usize;
        if data.is_empty() {
            return vec![enc.seal_chunk(&[], true).unwrap()];
        }
        let n = data.len().div_ceil(cs);
        data.chunks(cs)
            .enumerate()
            .map(|(i, c)| enc.seal_chunk(c, i + 1 == n).unwrap())
            .collect()
    }

    #[test]
    fn nonce_layout() {
        assert_eq!(chunk_nonce(0, false), [0; 12]);
        assert_eq!(chunk_nonce(1, true), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
        assert_eq!(chunk_nonce(0x0102, false)[9..], [1, 2, 0]);
    }

    #[test]
    fn empty_file_is_one_empty_final_chunk() {
        let (keys, header) = setup(16);
        let chunks = seal_all(&keys, &header, b"");
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].len(), TAG_LEN);
        let mut dec = StreamDecryptor::new(&keys.payload, &header);
        assert_eq!(dec.open_chunk(&chunks[0], true).unwrap(), b"");
        dec.finish().unwrap();
    }

    #[test]
    fn encryptor_refuses_misuse() {
        let (keys, header) = setup(16);
        let mut enc = StreamEncryptor::new(&keys.payload, &header);
        assert!(enc.seal_chunk(&[0; 15], false).is_err());
        assert!(enc.seal_chunk(&[0; 17], true).is_err());
        enc.seal_chunk(&[0; 16], false).unwrap();
        assert!(
            enc.seal_chunk(&[], true).is_err(),
            "empty final chunk after data"
        );
        enc.seal_chunk(&[0; 3], true).unwrap();
        assert!(enc.is_finished());
        assert!(enc.seal_chunk(&[0; 3], true).is_err());
    }

    #[test]
    fn truncation_at_boundary_detected() {
        let (keys, header) = setup(16);
        let chunks = seal_all(&keys, &header, &[9; 40]);
        let mut dec = StreamDecryptor::new(&keys.payload, &header);
        dec.open_chunk(&chunks[0], false).unwrap();
        dec.open_chunk(&chunks[1], false).unwrap();
        assert_eq!(dec.finish(), Err(Error::Truncated));
        // Claiming a middle chunk is the last fails verification.
        let mut dec = StreamDecryptor::new(&keys.payload, &header);
        dec.open_chunk(&chunks[0], false).unwrap();
        assert_eq!(dec.open_chunk(&chunks[1], true), Err(Error::Corrupted));
    }

    #[test]
    fn chunk_aead_out_of_order_matches_the_stream() {
        let (keys, header) = setup(16);
        let data = [7u8; 40];
        let expected = seal_all(&keys, &header, &data);
        // Nonces handed out in order, chunks sealed in reverse (as parallel workers may).
        let mut seq = ChunkSequence::new(&header);
        let mut nonces = Vec::new();
        for (i, c) in data.chunks(16).enumerate() {
            let last = i == 2;
            nonces.push(seq.seal_nonce(c.len(), last).unwrap());
            seq.advance(last);
        }
        seq.finish().unwrap();
        let aead = ChunkAead::new(&keys.payload, &header);
        let mut sealed: Vec<Vec<u8>> = data.chunks(16).map(<[u8]>::to_vec).collect();
        for i in (0..3).rev() {
            aead.seal_in_place(&nonces[i], &mut sealed[i]).unwrap();
        }
        assert_eq!(sealed, expected);
        // Opening verifies the nonce: a chunk opened as another one's fails.
        let mut swapped = sealed[1].clone();
        assert_eq!(
            aead.open_in_place(&nonces[0], &mut swapped),
            Err(Error::Corrupted)
        );
        let mut flipped = sealed[2].clone();
        flipped[0] ^= 1;
        assert_eq!(
            aead.open_in_place(&nonces[2], &mut flipped),
            Err(Error::Corrupted)
        );
        let mut plain = sealed[2].clone();
        aead.open_in_place(&nonces[2], &mut plain).unwrap();
        assert_eq!(plain, &data[32..]);
    }

    /// A resumed upload re-seals from a chunk in the middle (also after the final chunk
    /// was sealed once): the bytes equal the first pass, chunk for chunk.
    #[test]
    fn seek_reseals_the_same_chunks() {
        let (keys, header) = setup(16);
        let data = [5u8; 40];
        let first = seal_all(&keys, &header, &data);
        let mut enc = StreamEncryptor::new(&keys.payload, &header);
        let pieces: Vec<&[u8]> = data.chunks(16).collect();
        for (i, c) in pieces.iter().enumerate() {
            enc.seal_chunk(c, i == 2).unwrap();
        }
        assert!(enc.is_finished());
        enc.seek(1);
        assert!(!enc.is_finished());
        assert_eq!(enc.seal_chunk(pieces[1], false).unwrap(), first[1]);
        assert_eq!(enc.seal_chunk(pieces[2], true).unwrap(), first[2]);
        assert!(enc.is_finished());
        // Without the seek, the next chunk would be sealed as another one.
        let mut fresh = StreamEncryptor::new(&keys.payload, &header);
        assert_ne!(fresh.seal_chunk(pieces[1], false).unwrap(), first[1]);
        let mut seq = ChunkSequence::new(&header);
        seq.seek(2);
        assert_eq!(seq.seal_nonce(8, true).unwrap(), chunk_nonce(2, true));
    }

    /// A download resumed at a chunk in the middle opens the rest, and only the rest.
    #[test]
    fn a_decryptor_seeks_to_where_a_download_resumes() {
        let (keys, header) = setup(16);
        let data = [6u8; 40];
        let sealed = seal_all(&keys, &header, &data);
        let mut dec = StreamDecryptor::new(&keys.payload, &header);
        // Chunk 1 is not chunk 0: without the seek it fails.
        assert!(dec.open_chunk(&sealed[1], false).is_err());
        dec.seek(1);
        assert_eq!(dec.open_chunk(&sealed[1], false).unwrap(), data[16..32]);
        assert_eq!(dec.open_chunk(&sealed[2], true).unwrap(), data[32..]);
        dec.finish().unwrap();
    }

    #[test]
    fn buffered_rejects_trailing_and_short() {
        let (keys, header) = setup(16);
        let joined: Vec<u8> = seal_all(&keys, &header, &[9; 32]).concat();
        let mut dec = BufferedDecryptor::new(&keys.payload, &header);
        assert_eq!(dec.push(&joined).unwrap().len(), 16);
        assert_eq!(dec.finish().unwrap().len(), 16);

        let mut extra = joined.clone();
        extra.extend_from_slice(&[0; 20]);
        let mut dec = BufferedDecryptor::new(&keys.payload, &header);
        let r = dec.push(&extra).and_then(|_| dec.finish());
        assert!(r.is_err());

        let dec = BufferedDecryptor::new(&keys.payload, &header);
        assert_eq!(dec.finish(), Err(Error::Truncated));
    }
}
