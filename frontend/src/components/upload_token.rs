//! The upload-token field a server that admits uploads only with a credential asks for.
use leptos::{html, prelude::*};

use crate::tr;

/// A password-type "Upload token" field with Show/Hide. The token lives in `token`, this
/// tab's memory, only: nothing here stores, logs or puts it in an address (it travels in
/// the upload's `start` message and, to invite someone, in an `Authorization` header).
#[component]
pub(crate) fn UploadTokenField(
    /// The token as typed.
    token: RwSignal<String>,
    /// The input, for the page to focus when the server asks for or refuses the token.
    field: NodeRef<html::Input>,
    /// Greys it out while a transfer runs.
    #[prop(into)]
    disabled: Signal<bool>,
) -> impl IntoView {
    let show = RwSignal::new(false);
    view! {
        <label for="upload-token">{move || tr!("token-label")}</label>
        <div class="row">
            <input
                id="upload-token"
                type=move || if show.get() { "text" } else { "password" }
                autocomplete="off"
                spellcheck="false"
                aria-describedby="upload-token-help"
                node_ref=field
                prop:value=move || token.get()
                on:input=move |ev| token.set(event_target_value(&ev).trim().to_owned())
                prop:disabled=move || disabled.get()
            />
            <button
                type="button"
                aria-label=move || tr!("token-show-label")
                aria-pressed=move || show.get().to_string()
                on:click=move |_| show.update(|s| *s = !*s)
            >
                {move || if show.get() { tr!("hide") } else { tr!("show") }}
            </button>
        </div>
        <p id="upload-token-help" class="hint">
            {move || tr!("token-help-before")}
            " "
            <code>"ferry-server admin token create"</code>
            {move || tr!("token-help-after")}
        </p>
    }
}
