//! Reading a download's chunks in order, one streaming read per segment.
//!
//! A ranged GET per chunk costs a round trip each on S3 (about 16 ms, most of a 256 KiB
//! chunk's time on a fast link). A download asks for its chunks in order, so the reader
//! opens one stream from the first chunk it is asked for to the end of that chunk's
//! segment (or of the chunks it will be asked for, if they end sooner) and cuts chunks
//! off it as they arrive: it holds at most one chunk plus what the stream has buffered,
//! never a segment. A chunk asked for out of order opens a new stream there. On the local
//! file system a read is a system call, not a round trip, and its stream comes in 8 KiB
//! pieces from the blocking pool, so there each chunk stays one ranged read.
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use ferry_common::client::Layout;
use futures_util::StreamExt;

use crate::blobs::{BlobStore, ByteStream};

/// Why a chunk could not be read: the server cannot serve the file in full.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The store failed, or the object is missing (the share may have been removed).
    #[error(transparent)]
    Store(anyhow::Error),
    /// The object ended before the chunk did.
    #[error("the stored blob is shorter than recorded: chunk {index} gave {got} of {want} bytes")]
    Short { index: u64, got: u64, want: u64 },
}

/// Reads chunks `..until` of one share, in order or not.
pub(crate) struct ChunkReader {
    blobs: BlobStore,
    id: String,
    layout: Layout,
    /// Chunks per segment; 0 for a share stored as one blob (before segments).
    segment_chunks: u64,
    /// The chunk after the last one this reader will be asked for.
    until: u64,
    open: Option<Open>,
}

/// A stream over chunks `next..end` of one object.
struct Open {
    next: u64,
    end: u64,
    stream: ByteStream,
    /// Bytes received beyond the chunks cut so far.
    rest: Bytes,
}

/// Where a chunk is stored: its object (a segment, or `None` for the single blob) and
/// the chunk that object begins with.
#[derive(Clone, Copy)]
struct Place {
    segment: Option<u64>,
    first: u64,
}

impl ChunkReader {
    pub(crate) fn new(
        blobs: BlobStore,
        id: &str,
        layout: Layout,
        segment_chunks: u64,
        until: u64,
    ) -> ChunkReader {
        ChunkReader {
            blobs,
            id: id.to_owned(),
            layout,
            segment_chunks,
            until,
            open: None,
        }
    }

    /// The bytes of chunk `index`, exactly its length.
    pub(crate) async fn chunk(&mut self, index: u64) -> Result<Bytes, ReadError> {
        if self.blobs.is_local() {
            return self.ranged(index).await;
        }
        let positioned = self
            .open
            .as_ref()
            .is_some_and(|open| open.next == index && open.next < open.end);
        if positioned {
            match self.cut(index).await {
                // A stream that broke after it served chunks (a connection closed while a
                // slow client kept it waiting): once more from here, on a fresh stream.
                Err(ReadError::Store(err)) => {
                    tracing::info!(
                        error = crate::ids::redact(&format!("{err:#}")),
                        "chunk stream broke; reopening it"
                    );
                }
                result => return result,
            }
        }
        self.open = Some(self.open_at(index).await?);
        self.cut(index).await
    }

    /// Chunk `index` through a ranged read of its own.
    async fn ranged(&self, index: u64) -> Result<Bytes, ReadError> {
        let want = self.layout.len_of(index);
        let place = self.place(index);
        let start = self.offset(place, index);
        let bytes = self.read(place, start..start + want).await?;
        check_len(index, bytes.len() as u64, want)?;
        Ok(bytes)
    }

    async fn read(&self, place: Place, range: Range<u64>) -> Result<Bytes, ReadError> {
        let read = match place.segment {
            Some(segment) => self.blobs.read_segment(&self.id, segment, range).await,
            None => self.blobs.read(&self.id, range).await,
        };
        read.map_err(ReadError::Store)
    }

    /// A stream from chunk `index` to the end of its object or of the chunks wanted.
    async fn open_at(&self, index: u64) -> Result<Open, ReadError> {
        let place = self.place(index);
        let end = match place.segment {
            Some(_) => (place.first + self.segment_chunks).min(self.until),
            None => self.until,
        }
        .max(index + 1);
        let range = self.offset(place, index)..self.offset(place, end);
        let stream = match place.segment {
            Some(segment) => self.blobs.stream_segment(&self.id, segment, range).await,
            None => self.blobs.stream_blob(&self.id, range).await,
        };
        Ok(Open {
            next: index,
            end,
            stream: stream.map_err(ReadError::Store)?,
            rest: Bytes::new(),
        })
    }

    fn place(&self, index: u64) -> Place {
        match index.checked_div(self.segment_chunks) {
            Some(segment) => Place {
                segment: Some(segment),
                first: segment * self.segment_chunks,
            },
            None => Place {
                segment: None,
                first: 0,
            },
        }
    }

    /// Where chunk `index` (or the end of the chunks before it) lies in its object.
    fn offset(&self, place: Place, index: u64) -> u64 {
        self.layout.bytes_in(index) - self.layout.bytes_in(place.first)
    }

    /// Cuts chunk `index` off the open stream; a stream that fails or ends short is
    /// dropped.
    async fn cut(&mut self, index: u64) -> Result<Bytes, ReadError> {
        // unwrap: `chunk` opens a stream before it cuts.
        let open = self.open.as_mut().expect("a stream is open");
        let cut = open.take(index, self.layout.len_of(index)).await;
        match cut {
            Ok(_) => open.next += 1,
            Err(_) => self.open = None,
        }
        cut
    }
}

impl Open {
    /// The stream's next `want` bytes, chunk `index`.
    async fn take(&mut self, index: u64, want: u64) -> Result<Bytes, ReadError> {
        let want = want as usize;
        if self.rest.len() >= want {
            return Ok(self.rest.split_to(want));
        }
        let mut buf = BytesMut::with_capacity(want);
        buf.extend_from_slice(&std::mem::take(&mut self.rest));
        while buf.len() < want {
            let mut piece = match self.stream.next().await {
                Some(Ok(piece)) => piece,
                Some(Err(err)) => return Err(ReadError::Store(err)),
                None => {
                    let got = buf.len() as u64;
                    return Err(ReadError::Short {
                        index,
                        got,
                        want: want as u64,
                    });
                }
            };
            let need = want - buf.len();
            if piece.len() > need {
                self.rest = piece.split_off(need);
            }
            if buf.is_empty() && piece.len() == want {
                // The whole chunk in one piece: no copy.
                return Ok(piece);
            }
            buf.extend_from_slice(&piece);
        }
        Ok(buf.freeze())
    }
}

/// A read of `got` bytes for a chunk of `want`.
fn check_len(index: u64, got: u64, want: u64) -> Result<(), ReadError> {
    if got == want {
        return Ok(());
    }
    Err(ReadError::Short { index, got, want })
}

#[cfg(test)]
mod tests {
    use ferry_common::{Header, KdfParams};
    use futures_util::stream;

    use super::*;

    /// Ten chunks of 100 sealed bytes but the last (50), four to a segment: segments of
    /// 400, 400 and 150 bytes.
    const SEGMENT_CHUNKS: u64 = 4;
    const SIZE: u64 = 950;

    fn layout() -> Layout {
        let header = Header::generate(KdfParams::FLOOR, 84, false).unwrap();
        Layout::new(&header, SIZE).unwrap()
    }

    fn ciphertext() -> Bytes {
        (0..SIZE).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn chunk_of(data: &Bytes, index: u64) -> Bytes {
        let start = (index * 100) as usize;
        data.slice(start..(start + 100).min(data.len()))
    }

    /// `data` stored in segments, with segment `short` cut `by` bytes short.
    async fn stored(data: &Bytes, short: Option<(u64, usize)>) -> BlobStore {
        let blobs = BlobStore::in_memory();
        for (index, start) in (0..SIZE as usize).step_by(400).enumerate() {
            let mut end = (start + 400).min(data.len());
            if let Some((_, by)) = short.filter(|(s, _)| *s == index as u64) {
                end -= by;
            }
            let put = blobs.put_segment("id", index as u64, data.slice(start..end).into());
            put.await.unwrap();
        }
        blobs
    }

    #[tokio::test]
    async fn chunks_come_whole_in_order_and_out_of_it() {
        let data = ciphertext();
        let blobs = stored(&data, None).await;
        let mut reader = ChunkReader::new(blobs.clone(), "id", layout(), SEGMENT_CHUNKS, 10);
        for index in 0..10 {
            assert_eq!(reader.chunk(index).await.unwrap(), chunk_of(&data, index));
        }
        // A resume starts anywhere, and may go back.
        for index in [6, 7, 2, 3, 4, 9, 0] {
            assert_eq!(reader.chunk(index).await.unwrap(), chunk_of(&data, index));
        }
        // A reader told to stop before the final chunk can still be asked for it.
        let mut reader = ChunkReader::new(blobs, "id", layout(), SEGMENT_CHUNKS, 9);
        for index in [7, 8, 9] {
            assert_eq!(reader.chunk(index).await.unwrap(), chunk_of(&data, index));
        }
    }

    #[tokio::test]
    async fn a_share_stored_as_one_blob_is_read_as_one_stream() {
        let data = ciphertext();
        let blobs = BlobStore::in_memory();
        blobs.put_blob("id", data.clone().into()).await.unwrap();
        let mut reader = ChunkReader::new(blobs, "id", layout(), 0, 10);
        for index in [3, 4, 5, 9, 0] {
            assert_eq!(reader.chunk(index).await.unwrap(), chunk_of(&data, index));
        }
    }

    #[tokio::test]
    async fn a_short_or_missing_segment_is_an_error_never_a_short_chunk() {
        let data = ciphertext();
        let blobs = stored(&data, Some((2, 30))).await;
        let mut reader = ChunkReader::new(blobs.clone(), "id", layout(), SEGMENT_CHUNKS, 10);
        assert_eq!(reader.chunk(8).await.unwrap(), chunk_of(&data, 8));
        let err = reader.chunk(9).await.unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::Short {
                    index: 9,
                    got: 20,
                    want: 50
                }
            ),
            "{err:?}"
        );
        blobs.delete("id").await.unwrap();
        let mut reader = ChunkReader::new(blobs, "id", layout(), SEGMENT_CHUNKS, 10);
        let err = reader.chunk(0).await.unwrap_err();
        assert!(matches!(err, ReadError::Store(_)), "{err:?}");
    }

    /// A stream that breaks after it served chunks (its connection closed while the
    /// client was slow) is opened again where it stood, once; a fresh one that fails is
    /// an error.
    #[tokio::test]
    async fn a_stream_broken_midway_is_reopened_where_it_stood() {
        let data = ciphertext();
        let blobs = stored(&data, None).await;
        let mut reader = ChunkReader::new(blobs.clone(), "id", layout(), SEGMENT_CHUNKS, 10);
        let broken = stream::iter([Err(anyhow::anyhow!("connection reset"))]);
        reader.open = Some(Open {
            next: 1,
            end: 4,
            stream: broken.boxed(),
            rest: Bytes::new(),
        });
        assert_eq!(reader.chunk(1).await.unwrap(), chunk_of(&data, 1));
        assert_eq!(reader.chunk(2).await.unwrap(), chunk_of(&data, 2));
        blobs.delete("id").await.unwrap();
        let broken = stream::iter([Err(anyhow::anyhow!("connection reset"))]);
        reader.open = Some(Open {
            next: 3,
            end: 4,
            stream: broken.boxed(),
            rest: Bytes::new(),
        });
        let err = reader.chunk(3).await.unwrap_err();
        assert!(matches!(err, ReadError::Store(_)), "{err:?}");
    }

    /// Chunks are cut out of pieces of any size, across and inside them.
    #[tokio::test]
    async fn chunks_are_cut_from_pieces_of_any_size() {
        let data = ciphertext().slice(..400);
        let mut pieces = Vec::new();
        let mut at = 0;
        for len in [30, 170, 1, 99, 50, 50, 0] {
            pieces.push(Ok(data.slice(at..at + len)));
            at += len;
        }
        pieces.push(Ok(data.slice(at..)));
        let mut open = Open {
            next: 0,
            end: 4,
            stream: stream::iter(pieces).boxed(),
            rest: Bytes::new(),
        };
        for index in 0..4 {
            let chunk = open.take(index, 100).await.unwrap();
            assert_eq!(chunk, chunk_of(&data, index), "chunk {index}");
        }
        let err = open.take(4, 100).await.unwrap_err();
        assert!(matches!(err, ReadError::Short { got: 0, .. }), "{err:?}");
    }
}
