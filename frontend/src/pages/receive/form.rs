//! The receive page's form, for a file that is waiting: what it is, how it will be
//! saved, the passphrase, and the download's progress and outcome.
use ferry_worker::BLOB_CAP;
use leptos::prelude::*;

use super::{
    availability::Waiting,
    state::{ReceiveState, Stage, Streamer, saved_text},
};
use crate::{
    components::{
        file_list::FileList,
        passphrase_field::{PassphraseField, Purpose},
        progress::{Direction, TransferStatus},
    },
    format,
    i18n::Words,
    tr,
};

/// The form for the `waiting` file.
#[component]
pub(super) fn ReceiveForm(state: ReceiveState, waiting: Waiting) -> impl IntoView {
    let Waiting {
        size,
        downloads_left,
        expires_at,
        ..
    } = waiting;
    let too_big = move || state.too_big(size);
    let waiting = StoredValue::new(waiting);
    let ready = move || state.stage.with(|s| *s == Stage::Ready);
    // Worded when shown, so that it follows the language switch.
    let saved = move || {
        state.stage.with(|s| match s {
            Stage::Saved {
                name,
                downloads_left,
            } => Some(saved_text(name, *downloads_left)),
            _ => None,
        })
    };
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
        <SaveMode streamer=state.streamer />
        <form class="receive" on:submit=move |ev| {
            ev.prevent_default();
            waiting.with_value(|w| state.start(w));
        }>
            <PassphraseField
                passphrase=state.passphrase
                purpose=Purpose::Enter
                field=state.field
                disabled=Signal::derive(move || !ready())
            />
            <p class="error" role="alert" id="receive-error" tabindex="-1">
                {move || state.error.with(|e| e.as_ref().map(Words::text))}
            </p>
            <Show when=ready>
                <button
                    type="submit"
                    class="primary"
                    prop:disabled=move || state.streamer.with(Option::is_none) || too_big()
                >
                    {move || tr!("download")}
                </button>
            </Show>
        </form>
        {move || {
            state
                .file
                .get()
                .map(|(name, size)| {
                    view! {
                        <p class="file">
                            <span class="name">{name}</span>
                            {format!(" ({})", format::bytes(size))}
                        </p>
                    }
                })
        }}
        <FileList entries=state.entries.into() />
        <Show when=move || state.working()>
            <TransferStatus
                direction=Direction::Download
                progress=state.progress
                on_cancel=Callback::new(move |_| state.cancel())
            />
        </Show>
        <p role="status" class="saved" id="receive-saved" tabindex="-1">
            {saved}
        </p>
    }
}

/// How the file will be saved: streamed to disk, or held in memory up to a cap.
#[component]
fn SaveMode(streamer: RwSignal<Streamer, LocalStorage>) -> impl IntoView {
    view! {
        <p class="hint save-mode">
            {move || match streamer.get() {
                None => String::new(),
                Some(Some(_)) => tr!("save-streamed"),
                Some(None) => tr!("save-in-memory", max = format::bytes(BLOB_CAP)),
            }}
        </p>
    }
}
