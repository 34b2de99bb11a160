//! The upload-token field a server that admits uploads only with a credential asks for.
use leptos::{html, prelude::*};

use crate::{components::secret_input::SecretInput, tr};

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
    view! {
        <label for="upload-token">{move || tr!("token-label")}</label>
        <SecretInput
            id="upload-token"
            value=token
            field=field
            autocomplete="off"
            described_by=Some("upload-token-help")
            show_label=|| tr!("token-show-label")
            trim=true
            disabled=disabled
        />
        <p id="upload-token-help" class="hint">
            {move || tr!("token-help-before")}
            " "
            <code>"ferry-server admin token create"</code>
            {move || tr!("token-help-after")}
        </p>
    }
}
