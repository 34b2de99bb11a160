//! The receive page: `/s/{id}#{secret}`. Says at once whether a file is waiting; asks
//! for the passphrase; downloads, decrypts and saves under the original name.
mod availability;
mod form;
mod state;

use ferry_common::LinkSecret;
use leptos::prelude::*;

use crate::{components::progress::title_shows_progress, tr};
use availability::Availability;
use form::ReceiveForm;
use state::ReceiveState;

/// The receive page for share `id`.
#[component]
pub fn ReceivePage(
    /// The share ID from the path.
    id: String,
) -> impl IntoView {
    let fragment = window().location().hash().unwrap_or_default();
    let secret = fragment.strip_prefix('#').unwrap_or(&fragment).to_owned();
    let link_ok = LinkSecret::from_fragment(&secret).is_ok();
    // Asked at once; `None` while the server has not answered.
    let availability = {
        let id = id.clone();
        LocalResource::new(move || availability::check(id.clone()))
    };
    let state = ReceiveState::new(id, secret);
    title_shows_progress(Signal::derive(move || state.working()), state.progress);
    view! {
        <section aria-labelledby="receive-title">
            <h2 id="receive-title">{move || tr!("receive-title")}</h2>
            {move || match availability.get() {
                None => view! { <p class="hint">{move || tr!("checking-link")}</p> }.into_any(),
                Some(Availability::Unavailable(why)) => unavailable(move || why.text()),
                Some(Availability::Waiting(_)) if !link_ok => {
                    unavailable(|| tr!("link-incomplete"))
                }
                Some(Availability::Waiting(waiting)) => {
                    view! { <ReceiveForm state=state waiting=waiting /> }.into_any()
                }
            }}
        </section>
    }
}

/// Why there is nothing to download here, announced.
fn unavailable(text: impl Fn() -> String + Send + Sync + 'static) -> AnyView {
    view! {
        <p class="error unavailable" role="alert">
            {text}
        </p>
    }
    .into_any()
}
