//! The send page: choose files and folders and a passphrase, encrypt and upload, share
//! the link.

use ferry_common::{
    manifest::{MAX_DEPTH, MAX_ENTRIES, MAX_PATH_LEN},
    protocol::{ErrorCode, Limits, UploadAccess},
};
use ferry_worker::{Command, FailureCode, Report, ResumeNote, pending::Store};
use leptos::{html, prelude::*};

use crate::{
    api, bundle,
    components::{
        drop_zone::{DropZone, Found},
        interrupted::InterruptedUpload,
        invitation::{InvitationBanner, Invited},
        invite_form::InviteForm,
        passphrase_field::{PassphraseField, Purpose},
        progress::{Direction, Progress, TransferStatus, title_shows_progress},
        selection_list::SelectionList,
        share_choices::ShareChoices,
        shared_panel::{Shared, SharedPanel},
        upload_token::UploadTokenField,
    },
    focus::focus_soon,
    format,
    selection::Selection,
    tr,
    transfer::{Transfer, aes_choice, lanes_choice},
};

/// Where the send page is: choosing, uploading, or showing the finished share.
#[derive(Clone, Debug, PartialEq)]
enum Stage {
    /// Choosing files, a passphrase and the share's settings (after a failure too).
    Editing,
    /// An upload runs.
    Uploading,
    /// The upload committed.
    Shared(Shared),
}

/// The expiry offered first: a day, else an hour, else the server's first choice.
fn default_expiry(l: &Limits) -> u64 {
    [86_400u64, 3_600]
        .into_iter()
        .find(|c| l.expiry_choices_secs.contains(c))
        .or_else(|| l.expiry_choices_secs.first().copied())
        .unwrap_or(l.max_expiry_secs)
}

/// The download limit offered first: one, where the server allows it.
fn default_downloads(l: &Limits) -> u32 {
    match l.download_choices.first() {
        Some(&first) if !l.download_choices.contains(&1) => first,
        _ => 1,
    }
}

/// The send page.
#[component]
pub fn SendPage() -> impl IntoView {
    // -- signals -- //
    // The server's limits, asked at once; `None` until it answers.
    let limits = LocalResource::new(|| async { api::limits().await.map_err(|e| e.message()) });
    let selection = RwSignal::new_local(Selection::<web_sys::File>::default());
    let passphrase = RwSignal::new(String::new());
    let expiry = RwSignal::new(0u64);
    let downloads = RwSignal::new(1u32);
    let error = RwSignal::new(None::<String>);
    let stage = RwSignal::new(Stage::Editing);
    let working = Signal::derive(move || stage.with(|s| *s == Stage::Uploading));
    let progress = Progress::new();
    title_shows_progress(working, progress);
    let transfer = StoredValue::new_local(None::<Transfer>);
    let resume_note = RwSignal::new(None::<ResumeNote>);
    // The share ID of the running upload's stored record, to drop it on Cancel.
    let kept = StoredValue::new(None::<String>);
    // An invitation link's credential, taken out of the address before anything else; else
    // the upload token typed on a server that asks for one. Both in memory only.
    let invited = Invited::from_address();
    let token = RwSignal::new(String::new());
    let token_field = NodeRef::<html::Input>::new();
    let loaded = Signal::derive(move || limits.get().and_then(Result::ok));
    let needs_token = move || {
        invited.is_none()
            && loaded
                .with(|l| l.as_ref().map(|l| l.upload_access) == Some(UploadAccess::Credential))
    };
    let focus_token = move || {
        // After the field is enabled again (it is disabled while a transfer runs).
        request_animation_frame(move || {
            if let Some(field) = token_field.get() {
                let _ = field.focus();
            }
        });
    };

    // Once the limits are known: a day (else an hour, else the first choice) and one
    // download, where the server offers them.
    Effect::new(move |_| {
        if let Some(l) = loaded.get() {
            expiry.set(default_expiry(&l));
            downloads.set(default_downloads(&l));
        }
    });

    // Why what is chosen cannot be sent, said as soon as it is chosen.
    let refusal = move || -> Option<String> {
        selection.with(|s| {
            if s.is_empty() {
                return None;
            }
            if s.single().is_none()
                && let Err(e) = s.manifest()
            {
                return Some(bundle::refusal(&e));
            }
            let size = s.size();
            let max = limits.with(|l| match l {
                Some(Ok(l)) => Some(l.max_file_size),
                _ => None,
            })?;
            if size > max {
                let (size, max) = (format::bytes(size), format::bytes(max));
                return Some(match s.single() {
                    Some(_) => tr!("file-too-large", size = size, max = max),
                    None => tr!("files-too-large", size = size, max = max),
                });
            }
            invited.and_then(|i| i.refuses(size))
        })
    };
    // Whenever the selection (or the limits) change.
    Effect::new(move |_| error.set(refusal()));

    let on_pick = Callback::new(move |(picked, overflowed): Found| {
        selection.update(|s| s.add(picked, overflowed));
    });

    let start = move |_| {
        error.set(None);
        if selection.with_untracked(Selection::is_empty) {
            error.set(Some(tr!("choose-first")));
            return;
        }
        if let Some(msg) = untrack(refusal) {
            error.set(Some(msg));
            return;
        }
        if !matches!(limits.get_untracked(), Some(Ok(_))) {
            error.set(Some(tr!("limits-reload")));
            return;
        }
        let pass = passphrase.get_untracked();
        if pass.trim().is_empty() {
            error.set(Some(tr!("enter-passphrase")));
            return;
        }
        if invited.is_some_and(|i| !i.usable()) {
            error.set(Some(tr!("invitation-not-now")));
            return;
        }
        let credential = match invited {
            Some(i) => Some(i.credential()),
            None if needs_token() => Some(token.get_untracked()),
            None => None,
        };
        if credential.as_deref() == Some("") {
            error.set(Some(tr!("enter-token")));
            focus_token();
            return;
        }
        let bundle = match selection.with_untracked(bundle::of) {
            Ok(bundle) => bundle,
            Err(msg) => {
                error.set(Some(msg));
                return;
            }
        };
        let command = Command::Upload {
            passphrase: pass,
            expires_in_secs: expiry.get_untracked(),
            max_downloads: downloads.get_untracked(),
            aes: aes_choice(),
            lanes: lanes_choice(),
            credential,
            files: bundle.files,
            dirs: bundle.dirs,
        };
        stage.set(Stage::Uploading);
        resume_note.set(None);
        progress.reset(bundle.file.size() as u64);
        let on_report = move |report: Report, _blob| match report {
            report if progress.take(&report) => {}
            Report::Uploaded {
                share_id,
                link,
                qr_svg,
                owner_token,
                expires_at,
            } => {
                stage.set(Stage::Shared(Shared {
                    link,
                    qr_svg,
                    share_id,
                    owner_token,
                    expires_at,
                }));
                passphrase.set(String::new());
                if let Some(i) = invited {
                    i.upload_ended(None);
                }
                focus_soon("shared-title");
            }
            Report::Resume(ResumeNote::Kept { share_id }) => kept.set_value(Some(share_id)),
            Report::Resume(note) => resume_note.set(Some(note)),
            Report::Failed(f) => {
                stage.set(Stage::Editing);
                error.set(Some(tr!("upload-failed", why = f.message.clone())));
                focus_soon("send-error");
                let FailureCode::Server(code) = f.code else {
                    return;
                };
                match invited {
                    Some(i) => i.upload_ended(Some((code, &f.message))),
                    None if matches!(
                        code,
                        ErrorCode::CredentialRequired | ErrorCode::CredentialRefused
                    ) =>
                    {
                        focus_token()
                    }
                    None => {}
                }
            }
            _ => {}
        };
        match Transfer::start(&command, Some(&bundle.file), None, on_report) {
            Ok(t) => transfer.set_value(Some(t)),
            Err(f) => {
                stage.set(Stage::Editing);
                error.set(Some(f.message));
            }
        }
    };

    let cancel = move |_| {
        transfer.with_value(|t| {
            if let Some(t) = t {
                t.stop();
            }
        });
        stage.set(Stage::Editing);
        if let Some(id) = kept.get_value() {
            kept.set_value(None);
            leptos::task::spawn_local(async move {
                if let Ok(store) = Store::open().await {
                    let _ = store.remove(&id).await;
                }
            });
        }
        error.set(Some(tr!("upload-cancelled")));
    };

    let again = move |()| {
        stage.set(Stage::Editing);
        selection.set(Selection::default());
        error.set(None);
        resume_note.set(None);
    };

    let title = Signal::derive(move || {
        selection.with(|s| match s.single() {
            _ if s.is_empty() => tr!("choose-files-to-send"),
            Some(f) => format!("{} ({})", f.name(), format::bytes(f.size() as u64)),
            None => format!(
                "{} ({})",
                tr!("count-files", n = s.files()),
                format::bytes(s.size())
            ),
        })
    });
    // The form is drawn again only when the page goes to or from a finished share, never
    // between choosing and uploading (that would reset what is typed and focused).
    let shared = Memo::new(move |_| {
        stage.with(|s| match s {
            Stage::Shared(share) => Some(share.clone()),
            _ => None,
        })
    });
    // Nothing can be chosen while a transfer runs, nor with an invitation that is not (or
    // no longer) usable.
    let blocked = Signal::derive(move || working.get() || invited.is_some_and(|i| !i.usable()));

    let form = move || {
        view! {
            <form class="send" on:submit=|ev| ev.prevent_default()>
                <DropZone title=title on_pick=on_pick disabled=blocked />
                <SelectionList selection=selection disabled=blocked />
                <InterruptedUpload note=resume_note disabled=working />
                {move || match limits.get() {
                    None => view! { <p class="hint">{move || tr!("limits-loading")}</p> }.into_any(),
                    Some(Err(e)) => {
                        view! {
                            <p class="error" role="alert">
                                {move || tr!("limits-failed", why = e.clone())}
                            </p>
                        }
                            .into_any()
                    }
                    Some(Ok(l)) => {
                        view! {
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
                            .into_any()
                    }
                }}
                <PassphraseField
                    passphrase=passphrase
                    purpose=Purpose::Choose
                    field=NodeRef::new()
                    disabled=working
                />
                <ShareChoices limits=loaded expiry=expiry downloads=downloads disabled=working />
                <Show when=needs_token>
                    <UploadTokenField token=token field=token_field disabled=working />
                </Show>
                <p class="error" role="alert" id="send-error" tabindex="-1">
                    {move || error.get()}
                </p>
                <Show
                    when=move || working.get()
                    fallback=move || {
                        view! {
                            <button type="button" class="primary" on:click=start>
                                {move || tr!("encrypt-upload")}
                            </button>
                        }
                    }
                >
                    <TransferStatus
                        direction=Direction::Upload
                        progress=progress
                        on_cancel=Callback::new(cancel)
                    />
                </Show>
            </form>
            <Show when=move || needs_token() && !token.get().is_empty()>
                {move || loaded.get().map(|l| view! { <InviteForm token=token limits=l /> })}
            </Show>
        }
    };

    view! {
        <section aria-labelledby="send-title">
            <h2 id="send-title">{move || tr!("send-a-file")}</h2>
            <p class="lead">
                {move || tr!("send-lead")}
            </p>
            {invited.map(|i| view! { <InvitationBanner invited=i /> })}
            {move || match shared.get() {
                None => form().into_any(),
                Some(share) => {
                    view! { <SharedPanel share=share on_again=Callback::new(again) /> }.into_any()
                }
            }}
        </section>
    }
}
