//! The send page's notice of an upload an earlier page left unfinished (a reloaded or
//! closed tab), and of what became of it once a file and passphrase were chosen.
use ferry_worker::{NotResumed, ResumeNote, pending::Store};
use leptos::prelude::*;

use crate::{format, tr};

/// What a resume note says to a person (`None`: nothing to say).
fn note_text(note: &ResumeNote) -> Option<String> {
    Some(match note {
        ResumeNote::Resuming => tr!("resume-checking"),
        ResumeNote::Continued { already, total } => tr!(
            "resume-continued",
            already = format::bytes(*already),
            total = format::bytes(*total)
        ),
        ResumeNote::NotResumed(NotResumed::OtherPassphrase) => tr!("resume-other-passphrase"),
        ResumeNote::NotResumed(NotResumed::OtherFile) => tr!("resume-other-file"),
        ResumeNote::NotResumed(NotResumed::FileChanged) => tr!("resume-file-changed"),
        ResumeNote::NotResumed(NotResumed::ServerRefused) => tr!("resume-server-refused"),
        ResumeNote::Kept { .. } => return None,
    })
}

/// Sizes of the unfinished uploads this browser keeps (expired ones are dropped).
async fn kept_sizes() -> Vec<u64> {
    let Ok(store) = Store::open().await else {
        return Vec::new();
    };
    store
        .records()
        .await
        .map(|records| records.iter().map(|r| r.size).collect())
        .unwrap_or_default()
}

/// Says that an upload was interrupted (its size only: nothing secret is readable without
/// the passphrase), how to continue it, and offers to discard it; then what the transfer
/// worker reported about continuing it.
#[component]
pub fn InterruptedUpload(
    /// The worker's latest note about continuing an interrupted upload.
    #[prop(into)]
    note: Signal<Option<ResumeNote>>,
    /// While an upload runs, nothing can be discarded.
    #[prop(into)]
    disabled: Signal<bool>,
) -> impl IntoView {
    let sizes = RwSignal::new(Vec::<u64>::new());
    let discarded = RwSignal::new(false);
    leptos::task::spawn_local(async move { sizes.set(kept_sizes().await) });
    let discard = move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(store) = Store::open().await
                && store.clear().await.is_ok()
            {
                sizes.set(Vec::new());
                discarded.set(true);
            }
        });
    };
    let notice = move || {
        let sizes = sizes.get();
        Some(match sizes.as_slice() {
            [] => return None,
            [one] => tr!("interrupted-one", size = format::bytes(*one)),
            _ => tr!("interrupted-several"),
        })
    };
    let status = move || match note.get() {
        Some(n) => note_text(&n),
        None if discarded.get() => Some(tr!("interrupted-discarded")),
        None => notice(),
    };
    view! {
        <div class="interrupted">
            <p class="hint" role="status" aria-live="polite">
                {status}
            </p>
            <Show when=move || !sizes.get().is_empty() && note.get().is_none()>
                <button type="button" on:click=discard prop:disabled=move || disabled.get()>
                    {move || tr!("interrupted-discard")}
                </button>
            </Show>
        </div>
    }
}
