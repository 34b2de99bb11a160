//! The receive page's state: the passphrase, where the download is, and every step it
//! takes from the click to the saved file.
use ferry_common::protocol::ErrorCode;
use ferry_worker::{AesChoice, BLOB_CAP, Command, Failure, FailureCode, ListedEntry, Report};
use leptos::{html, prelude::*};

use super::availability::Waiting;
use crate::{
    components::progress::Progress,
    failures,
    focus::focus_soon,
    format,
    i18n::Words,
    save::{self, StreamSave},
    tr,
    transfer::{Transfer, aes_choice},
};

/// Where the receive page is.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Stage {
    /// Waiting for the passphrase (after a failure too).
    Ready,
    /// A download runs.
    Downloading,
    /// The file `name` was saved; the link allows `downloads_left` more (where the server
    /// said).
    Saved {
        name: String,
        downloads_left: Option<u32>,
    },
}

/// How this browser saves a download: `None` until known, then `Some(None)` where it can
/// only save Blobs (no secure context), or where a test asks for a wasm AES engine
/// (`?aes=`): the service worker decrypts with WebCrypto, the wasm engines run in the
/// decrypting worker, into a Blob.
pub(super) type Streamer = Option<Option<web_sys::ServiceWorker>>;

/// Everything the receive page holds, as signals: cheap to copy into every handler.
#[derive(Clone, Copy)]
pub(super) struct ReceiveState {
    id: StoredValue<String>,
    /// The link's secret (after `#`).
    secret: StoredValue<String>,
    pub(super) passphrase: RwSignal<String>,
    pub(super) error: RwSignal<Option<Words>>,
    pub(super) stage: RwSignal<Stage>,
    /// The file's name and size, once its metadata opened.
    pub(super) file: RwSignal<Option<(String, u64)>>,
    /// A share of many files: what it holds.
    pub(super) entries: RwSignal<Vec<ListedEntry>>,
    pub(super) progress: Progress,
    pub(super) streamer: RwSignal<Streamer, LocalStorage>,
    pub(super) field: NodeRef<html::Input>,
    transfer: StoredValue<Option<Transfer>, LocalStorage>,
    stream_save: StoredValue<Option<StreamSave>, LocalStorage>,
}

impl ReceiveState {
    /// The state for share `id` with the link's `secret`; finds out at once how this
    /// browser can save.
    pub(super) fn new(id: String, secret: String) -> Self {
        let state = ReceiveState {
            id: StoredValue::new(id),
            secret: StoredValue::new(secret),
            passphrase: RwSignal::new(String::new()),
            error: RwSignal::new(None),
            stage: RwSignal::new(Stage::Ready),
            file: RwSignal::new(None),
            entries: RwSignal::new(Vec::new()),
            progress: Progress::new(),
            streamer: RwSignal::new_local(None),
            field: NodeRef::new(),
            transfer: StoredValue::new_local(None),
            stream_save: StoredValue::new_local(None),
        };
        leptos::task::spawn_local(async move {
            let sw = match aes_choice() {
                AesChoice::Auto => save::service_worker().await,
                _ => None,
            };
            state.streamer.set(Some(sw));
        });
        state
    }

    pub(super) fn working(self) -> bool {
        self.stage.with(|s| *s == Stage::Downloading)
    }

    /// Only the Blob fallback has a size limit: is a `size`-byte file beyond it?
    pub(super) fn too_big(self, size: u64) -> bool {
        matches!(self.streamer.get(), Some(None)) && size > BLOB_CAP
    }

    /// Downloads, decrypts and saves the waiting file, or says why it cannot.
    pub(super) fn start(self, waiting: &Waiting) {
        if self.stage.with_untracked(|s| *s != Stage::Ready) {
            return;
        }
        self.error.set(None);
        let pass = self.passphrase.get_untracked();
        if pass.trim().is_empty() {
            return self
                .error
                .set(Some(Words::new(|| tr!("enter-received-passphrase"))));
        }
        let port = self.stream_port();
        if port.is_none() && waiting.size > BLOB_CAP {
            let why = || tr!("blob-too-large", max = format::bytes(BLOB_CAP));
            return self.error.set(Some(Words::new(why)));
        }
        let command = Command::Download {
            share_id: self.id.get_value(),
            header: waiting.header.clone(),
            secret: self.secret.get_value(),
            passphrase: pass,
            aes: aes_choice(),
        };
        self.stage.set(Stage::Downloading);
        self.progress.reset(0);
        let on_report = move |report, blob| self.report(report, blob);
        match Transfer::start(&command, None, port.as_ref(), on_report) {
            Ok(t) => self.transfer.set_value(Some(t)),
            Err(f) => self.failed(&f),
        }
    }

    /// The port the worker streams the download to, where the service worker is there;
    /// else `None`, and the download becomes a Blob (capped).
    fn stream_port(self) -> Option<web_sys::MessagePort> {
        let sw = self.streamer.get_untracked().flatten();
        let (save, port) = sw.and_then(|sw| StreamSave::new(sw).ok()).unzip();
        self.stream_save.set_value(save);
        port
    }

    /// Takes one report from the worker (`blob`: a Blob download's file).
    fn report(self, report: Report, blob: Option<web_sys::Blob>) {
        match report {
            report if self.progress.take(&report) => {}
            Report::Streaming { .. } => self.streaming(),
            Report::Metadata {
                name,
                size,
                entries,
            } => {
                self.progress.set_total(size);
                self.file.set(Some((name, size)));
                self.entries.set(entries);
            }
            Report::Downloaded {
                name,
                downloads_left,
            } => self.downloaded(&name, downloads_left, blob),
            Report::Failed(f) => self.failed(&f),
            _ => {}
        }
    }

    /// The worker streams: the browser's own download starts, or the transfer stops.
    fn streaming(self) {
        let started = self
            .stream_save
            .try_update_value(|s| s.as_mut().map(StreamSave::start))
            .flatten();
        if !matches!(started, Some(Ok(()))) {
            self.stop();
            self.stage.set(Stage::Ready);
            self.error
                .set(Some(Words::new(|| tr!("download-not-started"))));
        }
    }

    fn downloaded(self, name: &str, downloads_left: Option<u32>, blob: Option<web_sys::Blob>) {
        self.passphrase.set(String::new());
        let saving = match blob {
            Some(blob) => {
                save::save_blob(&blob, name).map_err(|_| Words::new(|| tr!("save-refused")))
            }
            None if self.stream_save.with_value(Option::is_some) => Ok(()),
            None => Err(Words::new(|| tr!("download-lost"))),
        };
        match saving {
            Ok(()) => {
                self.stage.set(Stage::Saved {
                    name: name.to_owned(),
                    downloads_left,
                });
                focus_soon("receive-saved");
            }
            Err(why) => {
                self.stage.set(Stage::Ready);
                self.error.set(Some(why));
                focus_soon("receive-error");
            }
        }
    }

    /// Back to the passphrase, saying why; a wrong one is selected, to type it again.
    fn failed(self, f: &Failure) {
        self.stage.set(Stage::Ready);
        if f.code == FailureCode::Corrupted {
            self.file.set(None);
            self.entries.set(Vec::new());
        }
        let handed_over = self
            .stream_save
            .with_value(|s| s.as_ref().is_some_and(StreamSave::handed_over));
        let said = f.clone();
        self.error.set(Some(Words::new(move || {
            failures::download(&said, handed_over)
        })));
        match self.field.get_untracked() {
            Some(input) if f.code == FailureCode::Server(ErrorCode::WrongToken) => {
                let _ = input.focus();
                input.select();
            }
            _ => focus_soon("receive-error"),
        }
    }

    fn stop(self) {
        self.transfer.with_value(|t| {
            if let Some(t) = t {
                t.stop();
            }
        });
    }

    /// Stops the download; the browser's own download (if it began) is marked failed.
    pub(super) fn cancel(self) {
        self.stop();
        self.stream_save.with_value(|s| {
            if let Some(s) = s {
                s.cancel();
            }
        });
        self.stage.set(Stage::Ready);
        self.error
            .set(Some(Words::new(|| tr!("download-cancelled"))));
    }
}

/// What a saved download says: its name, and what the link still allows.
pub(super) fn saved_text(name: &str, downloads_left: Option<u32>) -> String {
    match downloads_left {
        Some(0) => tr!("saved-used-up", name = name),
        Some(n) => tr!("saved-more", name = name, n = n),
        None => tr!("saved", name = name),
    }
}

#[cfg(test)]
mod tests {
    use super::saved_text;

    #[test]
    fn a_saved_file_says_what_the_link_still_allows() {
        assert_eq!(
            saved_text("a.txt", Some(0)),
            "Saved “a.txt”. The link is now used up."
        );
        assert_eq!(
            saved_text("a.txt", Some(1)),
            "Saved “a.txt”. The link allows 1 more download."
        );
        assert_eq!(
            saved_text("a.txt", Some(2)),
            "Saved “a.txt”. The link allows 2 more downloads."
        );
        assert_eq!(saved_text("a.txt", None), "Saved “a.txt”.");
    }
}
