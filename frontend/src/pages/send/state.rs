//! The send page's state: what is chosen, where the page is, and every step an upload
//! takes from the click to the shared link.
use ferry_common::protocol::{ErrorCode, Limits, UploadAccess};
use ferry_worker::{Command, Failure, FailureCode, Report, ResumeNote, pending::Store};
use leptos::{html, prelude::*};

use crate::{
    api, bundle,
    components::{invitation::Invited, progress::Progress, shared_panel::Shared},
    failures,
    focus::focus_soon,
    format,
    i18n::Words,
    selection::Selection,
    tr,
    transfer::{Transfer, aes_choice, lanes_choice},
};

/// Where the send page is: choosing, uploading, or showing the finished share.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Stage {
    /// Choosing files, a passphrase and the share's settings (after a failure too).
    Editing,
    /// An upload runs.
    Uploading,
    /// The upload committed.
    Shared(Shared),
}

/// Why an upload cannot start yet.
enum NotReady {
    /// These words say why.
    Say(Words),
    /// The server wants an upload token and none is typed.
    Token,
}

/// Everything the send page holds, as signals: cheap to copy into every handler.
#[derive(Clone, Copy)]
pub(super) struct SendState {
    /// The server's limits, asked at once; `None` until it answers.
    pub(super) limits: LocalResource<Result<Limits, String>>,
    pub(super) selection: RwSignal<Selection<web_sys::File>, LocalStorage>,
    pub(super) passphrase: RwSignal<String>,
    pub(super) expiry: RwSignal<u64>,
    pub(super) downloads: RwSignal<u32>,
    /// What the page says went wrong, or why what is chosen cannot be sent.
    pub(super) error: RwSignal<Option<Words>>,
    pub(super) stage: RwSignal<Stage>,
    pub(super) progress: Progress,
    /// Set when the worker finds an interrupted upload this one could (or could not)
    /// continue.
    pub(super) resume_note: RwSignal<Option<ResumeNote>>,
    /// An invitation link's credential, taken out of the address before anything else.
    pub(super) invited: Option<Invited>,
    /// The upload token typed on a server that asks for one (in memory only).
    pub(super) token: RwSignal<String>,
    pub(super) token_field: NodeRef<html::Input>,
    transfer: StoredValue<Option<Transfer>, LocalStorage>,
    /// The share ID of the running upload's stored record, to drop it on Cancel.
    kept: StoredValue<Option<String>>,
}

impl SendState {
    /// The page's state, with the server's limits asked for and the choices' defaults
    /// set once they arrive.
    pub(super) fn new() -> Self {
        let state = SendState {
            limits: LocalResource::new(|| async { api::limits().await.map_err(|e| e.message()) }),
            selection: RwSignal::new_local(Selection::default()),
            passphrase: RwSignal::new(String::new()),
            expiry: RwSignal::new(0),
            downloads: RwSignal::new(1),
            error: RwSignal::new(None),
            stage: RwSignal::new(Stage::Editing),
            progress: Progress::new(),
            resume_note: RwSignal::new(None),
            invited: Invited::from_address(),
            token: RwSignal::new(String::new()),
            token_field: NodeRef::new(),
            transfer: StoredValue::new_local(None),
            kept: StoredValue::new(None),
        };
        Effect::new(move |_| {
            if let Some(l) = state.loaded() {
                state.expiry.set(default_expiry(&l));
                state.downloads.set(default_downloads(&l));
            }
        });
        // Why what is chosen cannot be sent, said as soon as it is chosen.
        Effect::new(move |_| state.error.set(state.refusal().map(Words::fixed)));
        state
    }

    /// The server's limits, once they arrived.
    pub(super) fn loaded(self) -> Option<Limits> {
        self.limits.get().and_then(Result::ok)
    }

    pub(super) fn working(self) -> bool {
        self.stage.with(|s| *s == Stage::Uploading)
    }

    /// Nothing can be chosen while a transfer runs, nor with an invitation that is not
    /// (or no longer) usable.
    pub(super) fn blocked(self) -> bool {
        self.working() || self.invited.is_some_and(|i| !i.usable())
    }

    /// The server takes uploads only with a credential, and no invitation brings one.
    pub(super) fn needs_token(self) -> bool {
        self.invited.is_none()
            && self
                .limits
                .with(|l| matches!(l, Some(Ok(l)) if l.upload_access == UploadAccess::Credential))
    }

    /// The drop zone's title: what is chosen, and its size.
    pub(super) fn title(self) -> String {
        self.selection.with(|s| match s.single() {
            _ if s.is_empty() => tr!("choose-files-to-send"),
            Some(f) => format!("{} ({})", f.name(), format::bytes(f.size() as u64)),
            None => format!(
                "{} ({})",
                tr!("count-files", n = s.files()),
                format::bytes(s.size())
            ),
        })
    }

    /// Why what is chosen cannot be sent: not one share, too large for the server, or
    /// beyond the invitation.
    fn refusal(self) -> Option<String> {
        self.selection.with(|s| {
            if s.is_empty() {
                return None;
            }
            if s.single().is_none()
                && let Err(e) = s.manifest()
            {
                return Some(bundle::refusal(&e));
            }
            let size = s.size();
            let max = self.limits.with(|l| match l {
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
            self.invited.and_then(|i| i.refuses(size))
        })
    }

    /// The passphrase and credential to upload with, or why the upload cannot start.
    fn ready(self) -> Result<(String, Option<String>), NotReady> {
        if self.selection.with_untracked(Selection::is_empty) {
            return Err(NotReady::Say(Words::new(|| tr!("choose-first"))));
        }
        if untrack(|| self.refusal()).is_some() {
            let why = move || self.refusal().unwrap_or_default();
            return Err(NotReady::Say(Words::new(why)));
        }
        if !matches!(self.limits.get_untracked(), Some(Ok(_))) {
            return Err(NotReady::Say(Words::new(|| tr!("limits-reload"))));
        }
        let pass = self.passphrase.get_untracked();
        if pass.trim().is_empty() {
            return Err(NotReady::Say(Words::new(|| tr!("enter-passphrase"))));
        }
        if self.invited.is_some_and(|i| !i.usable()) {
            return Err(NotReady::Say(Words::new(|| tr!("invitation-not-now"))));
        }
        let credential = match self.invited {
            Some(i) => Some(i.credential()),
            None if untrack(|| self.needs_token()) => Some(self.token.get_untracked()),
            None => None,
        };
        if credential.as_deref() == Some("") {
            return Err(NotReady::Token);
        }
        Ok((pass, credential))
    }

    /// Encrypts and uploads what is chosen, or says why it cannot.
    pub(super) fn start(self) {
        self.error.set(None);
        let (passphrase, credential) = match self.ready() {
            Ok(ready) => ready,
            Err(NotReady::Say(why)) => return self.error.set(Some(why)),
            Err(NotReady::Token) => {
                self.error.set(Some(Words::new(|| tr!("enter-token"))));
                return self.focus_token();
            }
        };
        let bundle = match self.selection.with_untracked(bundle::of) {
            Ok(bundle) => bundle,
            Err(why) => return self.error.set(Some(Words::fixed(why))),
        };
        let command = Command::Upload {
            passphrase,
            expires_in_secs: self.expiry.get_untracked(),
            max_downloads: self.downloads.get_untracked(),
            aes: aes_choice(),
            lanes: lanes_choice(),
            credential,
            files: bundle.files,
            dirs: bundle.dirs,
        };
        self.stage.set(Stage::Uploading);
        self.resume_note.set(None);
        self.progress.reset(bundle.file.size() as u64);
        let on_report = move |report, _blob| self.report(report);
        match Transfer::start(&command, Some(&bundle.file), None, on_report) {
            Ok(t) => self.transfer.set_value(Some(t)),
            Err(f) => self.failed(&f),
        }
    }

    /// Takes one report from the worker.
    fn report(self, report: Report) {
        match report {
            report if self.progress.take(&report) => {}
            Report::Uploaded {
                share_id,
                link,
                qr_svg,
                owner_token,
                expires_at,
            } => self.uploaded(Shared {
                link,
                qr_svg,
                share_id,
                owner_token,
                expires_at,
            }),
            Report::Resume(ResumeNote::Kept { share_id }) => self.kept.set_value(Some(share_id)),
            Report::Resume(note) => self.resume_note.set(Some(note)),
            Report::Failed(f) => self.failed(&f),
            _ => {}
        }
    }

    fn uploaded(self, share: Shared) {
        self.stage.set(Stage::Shared(share));
        self.passphrase.set(String::new());
        if let Some(i) = self.invited {
            i.upload_ended(None);
        }
        focus_soon("shared-title");
    }

    /// Back to editing, saying why; a refused credential is given back to be fixed.
    fn failed(self, f: &Failure) {
        self.stage.set(Stage::Editing);
        let said = f.clone();
        self.error
            .set(Some(Words::new(move || failures::upload(&said))));
        focus_soon("send-error");
        let FailureCode::Server(code) = f.code else {
            return;
        };
        match self.invited {
            Some(i) => i.upload_ended(Some((code, &failures::reason(f)))),
            None if matches!(
                code,
                ErrorCode::CredentialRequired | ErrorCode::CredentialRefused
            ) =>
            {
                self.focus_token()
            }
            None => {}
        }
    }

    /// Stops the upload and forgets its stored record: nothing of it is kept.
    pub(super) fn cancel(self) {
        self.transfer.with_value(|t| {
            if let Some(t) = t {
                t.stop();
            }
        });
        self.stage.set(Stage::Editing);
        if let Some(id) = self.kept.get_value() {
            self.kept.set_value(None);
            leptos::task::spawn_local(async move {
                if let Ok(store) = Store::open().await {
                    let _ = store.remove(&id).await;
                }
            });
        }
        self.error.set(Some(Words::new(|| tr!("upload-cancelled"))));
    }

    /// From a finished share back to an empty form.
    pub(super) fn again(self) {
        self.stage.set(Stage::Editing);
        self.selection.set(Selection::default());
        self.error.set(None);
        self.resume_note.set(None);
    }

    /// Focuses the upload-token field, after it is enabled again (it is disabled while a
    /// transfer runs).
    fn focus_token(self) {
        request_animation_frame(move || {
            if let Some(field) = self.token_field.get() {
                let _ = field.focus();
            }
        });
    }
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
