//! The send page: choose files and folders and a passphrase, encrypt and upload, share
//! the link.
mod form;
mod state;

use leptos::prelude::*;

use crate::{
    components::{
        invitation::InvitationBanner, progress::title_shows_progress, shared_panel::SharedPanel,
    },
    tr,
};
use form::SendForm;
use state::{SendState, Stage};

/// The send page.
#[component]
pub fn SendPage() -> impl IntoView {
    let state = SendState::new();
    title_shows_progress(Signal::derive(move || state.working()), state.progress);
    // The form is drawn again only when the page goes to or from a finished share, never
    // between choosing and uploading (that would reset what is typed and focused).
    let shared = Memo::new(move |_| {
        state.stage.with(|s| match s {
            Stage::Shared(share) => Some(share.clone()),
            _ => None,
        })
    });
    view! {
        <section aria-labelledby="send-title">
            <h2 id="send-title">{move || tr!("send-a-file")}</h2>
            <p class="lead">{move || tr!("send-lead")}</p>
            {state.invited.map(|i| view! { <InvitationBanner invited=i /> })}
            {move || match shared.get() {
                None => view! { <SendForm state=state /> }.into_any(),
                Some(share) => {
                    let again = Callback::new(move |()| state.again());
                    view! { <SharedPanel share=share on_again=again /> }.into_any()
                }
            }}
        </section>
    }
}
