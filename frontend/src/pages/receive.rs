//! The receive page: `/s/{id}#{secret}`. Says at once whether a file is waiting; asks
//! for the passphrase; downloads, decrypts and saves under the original name.
use ferry_common::{Header, LinkSecret, b64, protocol::ErrorCode};
use ferry_worker::{AesChoice, BLOB_CAP, Command, Failure, FailureCode, Report};
use leptos::prelude::*;

use crate::{
    api,
    components::{
        file_list::FileList,
        passphrase_field::{PassphraseField, Purpose},
        progress::{Direction, Progress, TransferStatus, title_shows_progress},
    },
    focus::focus_soon,
    format,
    save::{self, StreamSave},
    tr,
    transfer::{Transfer, aes_choice},
};

/// What the page knows before any passphrase is typed.
#[derive(Clone, Debug, PartialEq)]
enum Availability {
    /// A file is waiting; `size` is its plaintext size.
    Waiting {
        header: String,
        size: u64,
        downloads_left: u32,
        expires_at: i64,
    },
    /// Why there is nothing to download.
    Unavailable(Unavailable),
}

/// Why a link offers nothing to download.
#[derive(Clone, Debug, PartialEq)]
enum Unavailable {
    /// Its header asks for less key-derivation work than Ferry's floor (FORMAT.md §2).
    NotFerry,
    /// Its header does not parse.
    Damaged,
    /// Deleted, downloaded or never there.
    NotFound,
    /// Expired.
    Expired,
    /// Downloaded to its limit.
    UsedUp,
    /// The server did not say; its words.
    Unknown(String),
}

/// What an unavailable link says to a person.
fn unavailable_text(why: &Unavailable) -> String {
    match why {
        Unavailable::NotFerry => tr!("unavailable-not-ferry"),
        Unavailable::Damaged => tr!("unavailable-damaged"),
        Unavailable::NotFound => tr!("unavailable-not-found"),
        Unavailable::Expired => tr!("unavailable-expired"),
        Unavailable::UsedUp => tr!("unavailable-used-up"),
        Unavailable::Unknown(message) => tr!("unavailable-unknown", why = message.clone()),
    }
}

/// Whether a file is waiting at share `id`, from `GET /api/shares/{id}` (which uses
/// nothing up).
async fn check_share(id: String) -> Availability {
    match api::share_info(&id).await {
        Ok(info) => {
            let header = Header::parse(&info.header.0);
            match header
                .as_ref()
                .ok()
                .and_then(|h| h.plaintext_len(info.ciphertext_size))
            {
                Some(size) => Availability::Waiting {
                    header: b64::encode(&info.header.0),
                    size,
                    downloads_left: info.downloads_left,
                    expires_at: info.expires_at,
                },
                // Below the KDF floor: no Ferry sender made it (FORMAT.md §2).
                None if matches!(header, Err(ferry_common::Error::WeakKdf(_))) => {
                    Availability::Unavailable(Unavailable::NotFerry)
                }
                None => Availability::Unavailable(Unavailable::Damaged),
            }
        }
        Err(e) => Availability::Unavailable(match e.code() {
            Some(ErrorCode::NotFound) => Unavailable::NotFound,
            Some(ErrorCode::Expired) => Unavailable::Expired,
            Some(ErrorCode::UsedUp) => Unavailable::UsedUp,
            _ => Unavailable::Unknown(e.message()),
        }),
    }
}

/// What a saved download says: its name, and what the link still allows.
fn saved_text(name: &str, downloads_left: Option<u32>) -> String {
    match downloads_left {
        Some(0) => tr!("saved-used-up", name = name),
        Some(n) => tr!("saved-more", name = name, n = n),
        None => tr!("saved", name = name),
    }
}

/// What a failed download says to a person, by its code. `handed_over`: the browser's own
/// download had started (so a partial file may be on disk).
fn failure_text(f: &Failure, handed_over: bool) -> String {
    match f.code {
        FailureCode::Server(ErrorCode::WrongToken) => match f.attempts_left {
            Some(n) => tr!("wrong-passphrase-left", n = n),
            None => tr!("wrong-passphrase"),
        },
        FailureCode::Corrupted if handed_over => tr!("corrupted-handed-over"),
        FailureCode::Corrupted => tr!("corrupted"),
        FailureCode::Cancelled => tr!("download-cancelled"),
        FailureCode::Server(ErrorCode::Expired) => tr!("link-expired"),
        FailureCode::Server(ErrorCode::UsedUp | ErrorCode::NotFound) => tr!("no-longer-available"),
        FailureCode::Server(ErrorCode::Busy) => tr!("download-busy"),
        FailureCode::Server(ErrorCode::ClaimLost) => tr!("claim-lost"),
        _ => tr!("download-failed", why = f.message.clone()),
    }
}

/// The receive page for share `id`.
#[component]
pub fn ReceivePage(
    /// The share ID from the path.
    id: String,
) -> impl IntoView {
    let fragment = window().location().hash().unwrap_or_default();
    let secret = fragment.strip_prefix('#').unwrap_or(&fragment).to_owned();
    let link_ok = LinkSecret::from_fragment(&secret).is_ok();

    // -- signals -- //
    let passphrase = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let working = RwSignal::new(false);

    let file = RwSignal::new(None::<(String, u64)>);
    let entries = RwSignal::new(Vec::<ferry_worker::ListedEntry>::new());
    let progress = Progress::new();
    title_shows_progress(working.into(), progress);
    let saved = RwSignal::new(None::<String>);
    let transfer = StoredValue::new_local(None::<Transfer>);
    // The service worker that streams downloads to disk: `None` until known, then
    // `Some(None)` where this browser can only save Blobs (no secure context), or where a
    // test asks for a wasm AES engine (`?aes=`): the service worker decrypts with
    // WebCrypto, the wasm engines run in the decrypting worker, into a Blob.
    let streamer = RwSignal::new_local(None::<Option<web_sys::ServiceWorker>>);
    let stream_save = StoredValue::new_local(None::<StreamSave>);
    leptos::task::spawn_local(async move {
        let sw = match aes_choice() {
            AesChoice::Auto => save::service_worker().await,
            _ => None,
        };
        streamer.set(Some(sw));
    });
    let field = NodeRef::<leptos::html::Input>::new();

    // Asked at once; `None` while the server has not answered.
    let availability = {
        let id = id.clone();
        LocalResource::new(move || check_share(id.clone()))
    };

    let start = {
        let id = id.clone();
        let secret = secret.clone();
        move || {
            error.set(None);
            let Some(Availability::Waiting { header, .. }) = availability.get_untracked() else {
                return;
            };
            let pass = passphrase.get_untracked();
            if pass.trim().is_empty() {
                error.set(Some(tr!("enter-received-passphrase")));
                return;
            }
            let command = Command::Download {
                share_id: id.clone(),
                header,
                secret: secret.clone(),
                passphrase: pass,
                aes: aes_choice(),
            };
            // Stream to disk where the service worker is there; else a Blob (capped).
            let port = match streamer.get_untracked().flatten() {
                Some(sw) => match StreamSave::new(sw) {
                    Ok((save, port)) => {
                        stream_save.set_value(Some(save));
                        Some(port)
                    }
                    Err(_) => None,
                },
                None => None,
            };
            if port.is_none() {
                stream_save.set_value(None);
                if availability.with_untracked(
                    |a| matches!(a, Some(Availability::Waiting { size, .. }) if *size > BLOB_CAP),
                ) {
                    error.set(Some(tr!("blob-too-large", max = format::bytes(BLOB_CAP))));
                    return;
                }
            }
            working.set(true);
            progress.reset(0);
            let on_report = move |report: Report, blob: Option<web_sys::Blob>| match report {
                report if progress.take(&report) => {}
                Report::Streaming { .. } => {
                    let started = stream_save
                        .try_update_value(|s| s.as_mut().map(StreamSave::start))
                        .flatten();
                    if !matches!(started, Some(Ok(()))) {
                        transfer.with_value(|t| {
                            if let Some(t) = t {
                                t.stop();
                            }
                        });
                        working.set(false);
                        error.set(Some(tr!("download-not-started")));
                    }
                }
                Report::Metadata {
                    name,
                    size,
                    entries: listed,
                } => {
                    progress.set_total(size);
                    file.set(Some((name, size)));
                    entries.set(listed);
                }
                Report::Downloaded {
                    name,
                    downloads_left,
                } => {
                    working.set(false);
                    passphrase.set(String::new());
                    let saving = match blob {
                        Some(blob) => save::save_blob(&blob, &name),
                        None if stream_save.with_value(Option::is_some) => Ok(()),
                        None => {
                            error.set(Some(tr!("download-lost")));
                            return;
                        }
                    };
                    match saving {
                        Ok(()) => saved.set(Some(saved_text(&name, downloads_left))),
                        Err(_) => error.set(Some(tr!("save-refused"))),
                    }
                    focus_soon(if saved.get_untracked().is_some() {
                        "receive-saved"
                    } else {
                        "receive-error"
                    });
                }
                Report::Failed(f) => {
                    working.set(false);
                    if f.code == FailureCode::Corrupted {
                        file.set(None);
                        entries.set(Vec::new());
                    }
                    let handed_over =
                        stream_save.with_value(|s| s.as_ref().is_some_and(StreamSave::handed_over));
                    error.set(Some(failure_text(&f, handed_over)));
                    match field.get_untracked() {
                        // Back in the field, its text selected, to type it again.
                        Some(input) if f.code == FailureCode::Server(ErrorCode::WrongToken) => {
                            let _ = input.focus();
                            input.select();
                        }
                        _ => focus_soon("receive-error"),
                    }
                }
                _ => {}
            };
            match Transfer::start(&command, None, port.as_ref(), on_report) {
                Ok(t) => transfer.set_value(Some(t)),
                Err(f) => {
                    working.set(false);
                    error.set(Some(f.message));
                }
            }
        }
    };
    let start = StoredValue::new(start);

    let cancel = move |_| {
        transfer.with_value(|t| {
            if let Some(t) = t {
                t.stop();
            }
        });
        stream_save.with_value(|s| {
            if let Some(s) = s {
                s.cancel();
            }
        });
        working.set(false);
        error.set(Some(tr!("download-cancelled")));
    };

    let form = move |size: u64, downloads_left: u32, expires_at: i64| {
        // Only the Blob fallback has a size limit.
        let blob_only = move || matches!(streamer.get(), Some(None));
        let too_big = move || blob_only() && size > BLOB_CAP;
        view! {
            <p class="waiting">
                {move || {
                    tr!(
                        "waiting",
                        size = format::bytes(size),
                        expires = format::when(expires_at),
                        left = downloads_left
                    )
                }}
            </p>
            <Show when=too_big>
                <p class="error" role="alert">
                    {move || tr!("blob-too-large-explained", max = format::bytes(BLOB_CAP))}
                </p>
            </Show>
            <p class="hint save-mode">
                {move || match streamer.get() {
                    None => String::new(),
                    Some(Some(_)) => tr!("save-streamed"),
                    Some(None) => tr!("save-in-memory", max = format::bytes(BLOB_CAP)),
                }}
            </p>
            <form class="receive" on:submit=move |ev| {
                ev.prevent_default();
                if !working.get_untracked() && saved.get_untracked().is_none() {
                    start.with_value(|s| s());
                }
            }>
                <PassphraseField
                    passphrase=passphrase
                    purpose=Purpose::Enter
                    field=field
                    disabled=Signal::derive(move || working.get() || saved.get().is_some())
                />
                <p class="error" role="alert" id="receive-error" tabindex="-1">
                    {move || error.get()}
                </p>
                <Show when=move || !working.get() && saved.get().is_none()>
                    <button
                        type="submit"
                        class="primary"
                        prop:disabled=move || streamer.get().is_none() || too_big()
                    >
                        {move || tr!("download")}
                    </button>
                </Show>
            </form>
            {move || {
                file.get()
                    .map(|(name, size)| {
                        view! {
                            <p class="file">
                                <span class="name">{name}</span>
                                {format!(" ({})", format::bytes(size))}
                            </p>
                        }
                    })
            }}
            <FileList entries=entries.into() />
            <Show when=move || working.get()>
                <TransferStatus
                    direction=Direction::Download
                    progress=progress
                    on_cancel=Callback::new(cancel)
                />
            </Show>
            <p role="status" class="saved" id="receive-saved" tabindex="-1">
                {move || saved.get()}
            </p>
        }
    };

    view! {
        <section aria-labelledby="receive-title">
            <h2 id="receive-title">{move || tr!("receive-title")}</h2>
            {move || match availability.get() {
                None => {
                    view! { <p class="hint">{move || tr!("checking-link")}</p> }.into_any()
                }
                Some(Availability::Unavailable(why)) => {
                    view! {
                        <p class="error unavailable" role="alert">
                            {move || unavailable_text(&why)}
                        </p>
                    }
                        .into_any()
                }
                Some(Availability::Waiting { .. }) if !link_ok => {
                    view! {
                        <p class="error unavailable" role="alert">
                            {move || tr!("link-incomplete")}
                        </p>
                    }
                        .into_any()
                }
                Some(Availability::Waiting { size, downloads_left, expires_at, .. }) => {
                    form(size, downloads_left, expires_at).into_any()
                }
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: FailureCode) -> Failure {
        Failure::new(code, "the worker's words")
    }

    #[test]
    fn failures_are_worded_by_their_code() {
        let mut wrong = failure(FailureCode::Server(ErrorCode::WrongToken));
        wrong.attempts_left = Some(1);
        assert_eq!(
            failure_text(&wrong, false),
            "Wrong passphrase (or the link is not the one the sender gave you). 1 attempt left. Please try again."
        );
        let corrupted = failure(FailureCode::Corrupted);
        assert!(failure_text(&corrupted, false).contains("Nothing was saved"));
        assert!(failure_text(&corrupted, true).contains("marked failed: delete any partial file"));
        assert_eq!(
            failure_text(&failure(FailureCode::Server(ErrorCode::Busy)), false),
            "Someone else is downloading this file right now; try again in a minute."
        );
        // Anything without words of its own keeps the worker's.
        assert_eq!(
            failure_text(&failure(FailureCode::Network), false),
            "The download failed: the worker's words"
        );
    }

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
