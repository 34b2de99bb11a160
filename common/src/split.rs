//! Cutting a several-file share's payload back into its files, sans I/O.
//!
//! The payload's plaintext is every file of the [`Manifest`] one after the other
//! ([`crate::manifest`]); a [`Splitter`] is fed that plaintext in pieces of any size, as
//! chunks are opened, and says where each file starts and ends. Empty files start and end
//! without data. The CLI writes the parts into files, the browser into a ZIP or a folder.
use crate::manifest::Manifest;

/// What the next bytes of the payload are.
#[derive(Debug, PartialEq, Eq)]
pub enum Part<'a> {
    /// File `index` of the manifest starts.
    Start(usize),
    /// Bytes of the file that started last.
    Data(&'a [u8]),
    /// File `index` is complete.
    End(usize),
}

/// More plaintext than the manifest's files hold: the payload does not match them.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the share holds more data than its list of files")]
pub struct TooMuchData;

/// Where the payload is (see the module docs).
#[derive(Debug)]
pub struct Splitter {
    sizes: Vec<u64>,
    file: usize,
    /// Bytes left of the current file; `None` between files.
    left: Option<u64>,
}

impl Splitter {
    /// A splitter at the start of `manifest`'s payload.
    pub fn new(manifest: &Manifest) -> Splitter {
        Splitter {
            sizes: manifest.files.iter().map(|f| f.size).collect(),
            file: 0,
            left: None,
        }
    }

    /// The next part, taking its bytes from the front of `input`. `None` once `input` is
    /// used up and no file boundary is due; call again with new input. Call with empty
    /// input after the last piece so that trailing empty files start and end.
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<Part<'a>>, TooMuchData> {
        match self.left {
            None if self.file == self.sizes.len() => {
                if input.is_empty() {
                    Ok(None)
                } else {
                    Err(TooMuchData)
                }
            }
            None => {
                self.left = Some(self.sizes[self.file]);
                Ok(Some(Part::Start(self.file)))
            }
            Some(0) => {
                self.left = None;
                self.file += 1;
                Ok(Some(Part::End(self.file - 1)))
            }
            Some(_) if input.is_empty() => Ok(None),
            Some(left) => {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                let (data, rest) = input.split_at(take);
                *input = rest;
                self.left = Some(left - take as u64);
                Ok(Some(Part::Data(data)))
            }
        }
    }

    /// Whether every file has ended.
    pub fn is_done(&self) -> bool {
        self.left.is_none() && self.file == self.sizes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestFile;

    fn splitter(sizes: &[u64]) -> Splitter {
        Splitter::new(&Manifest {
            files: sizes
                .iter()
                .map(|&size| ManifestFile {
                    path: "f".into(),
                    size,
                    mtime: None,
                })
                .collect(),
            dirs: vec![],
        })
    }

    /// Feeds `pieces` and the final empty call; returns the parts as text.
    fn run(s: &mut Splitter, pieces: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        for piece in pieces.iter().copied().chain([&[][..]]) {
            let mut input = piece;
            while let Some(part) = s.next(&mut input).unwrap() {
                out.push(match part {
                    Part::Start(i) => format!("<{i}"),
                    Part::Data(d) => String::from_utf8(d.to_vec()).unwrap(),
                    Part::End(i) => format!("{i}>"),
                });
            }
            assert!(input.is_empty());
        }
        out
    }

    #[test]
    fn files_are_cut_at_their_sizes_whatever_the_pieces() {
        let mut s = splitter(&[3, 0, 2, 0]);
        assert_eq!(
            run(&mut s, &[b"ab", b"cde"]),
            [
                "<0", "ab", "c", "0>", "<1", "1>", "<2", "de", "2>", "<3", "3>"
            ]
        );
        assert!(s.is_done());
    }

    #[test]
    fn short_and_long_payloads_are_noticed() {
        let mut s = splitter(&[3]);
        run(&mut s, &[b"ab"]);
        assert!(!s.is_done());
        let mut s = splitter(&[1]);
        let mut input = &b"ab"[..];
        let mut parts = 0;
        let err = loop {
            match s.next(&mut input) {
                Ok(Some(_)) => parts += 1,
                Ok(None) => panic!("extra data accepted"),
                Err(e) => break e,
            }
        };
        assert_eq!((parts, err), (3, TooMuchData));
    }
}
