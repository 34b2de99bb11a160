//! The send page's form: what to send, the passphrase, the share's settings, and the
//! upload's progress.
use ferry_common::{
    manifest::{MAX_DEPTH, MAX_ENTRIES, MAX_PATH_LEN},
    protocol::Limits,
};
use leptos::prelude::*;

use super::state::SendState;
use crate::{
    components::{
        drop_zone::{DropZone, Found},
        interrupted::InterruptedUpload,
        invite_form::InviteForm,
        passphrase_field::{PassphraseField, Purpose},
        progress::{Direction, TransferStatus},
        selection_list::SelectionList,
        share_choices::ShareChoices,
        upload_token::UploadTokenField,
    },
    format,
    i18n::Words,
    tr,
};

/// The form, from choosing files to the running upload.
#[component]
pub(super) fn SendForm(state: SendState) -> impl IntoView {
    let working = Signal::derive(move || state.working());
    let blocked = Signal::derive(move || state.blocked());
    let on_pick = Callback::new(move |(picked, overflowed): Found| {
        state.selection.update(|s| s.add(picked, overflowed));
    });
    view! {
        <form class="send" on:submit=|ev| ev.prevent_default()>
            <DropZone title=Signal::derive(move || state.title()) on_pick=on_pick disabled=blocked />
            <SelectionList selection=state.selection disabled=blocked />
            <InterruptedUpload note=state.resume_note disabled=working />
            <LimitsHint limits=state.limits />
            <PassphraseField
                passphrase=state.passphrase
                purpose=Purpose::Choose
                field=NodeRef::new()
                disabled=working
            />
            <ShareChoices
                limits=Signal::derive(move || state.loaded())
                expiry=state.expiry
                downloads=state.downloads
                disabled=working
            />
            <Show when=move || state.needs_token()>
                <UploadTokenField token=state.token field=state.token_field disabled=working />
            </Show>
            <p class="error" role="alert" id="send-error" tabindex="-1">
                {move || state.error.with(|e| e.as_ref().map(Words::text))}
            </p>
            <Show
                when=move || working.get()
                fallback=move || {
                    view! {
                        <button type="button" class="primary" on:click=move |_| state.start()>
                            {move || tr!("encrypt-upload")}
                        </button>
                    }
                }
            >
                <TransferStatus
                    direction=Direction::Upload
                    progress=state.progress
                    on_cancel=Callback::new(move |_| state.cancel())
                />
            </Show>
        </form>
        <Show when=move || state.needs_token() && !state.token.get().is_empty()>
            {move || state.loaded().map(|l| view! { <InviteForm token=state.token limits=l /> })}
        </Show>
    }
}

/// What the server accepts, once it said; or that it could not be asked.
#[component]
fn LimitsHint(limits: LocalResource<Result<Limits, String>>) -> impl IntoView {
    move || match limits.get() {
        None => view! { <p class="hint">{move || tr!("limits-loading")}</p> }.into_any(),
        Some(Err(e)) => view! {
            <p class="error" role="alert">
                {move || tr!("limits-failed", why = e.clone())}
            </p>
        }
        .into_any(),
        Some(Ok(l)) => view! {
            <p class="hint">
                {move || {
                    tr!(
                        "limits-hint",
                        size = format::bytes(l.max_file_size),
                        entries = format::count(MAX_ENTRIES as u64),
                        bytes = format::count(MAX_PATH_LEN as u64),
                        depth = MAX_DEPTH
                    )
                }}
            </p>
        }
        .into_any(),
    }
}
