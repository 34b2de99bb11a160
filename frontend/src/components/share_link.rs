//! The finished link: a read-only field, a Copy button and a QR code.
use leptos::prelude::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::tr;

/// A read-only field holding `value` with a Copy button (the clipboard where the page
/// may use it, else the text selected for Ctrl+C).
#[component]
pub(crate) fn CopyField(
    /// The field's label (from the catalogue).
    label: fn() -> String,
    /// The field's element ID (tests and the label find it by this).
    id: &'static str,
    /// What to copy.
    value: String,
) -> impl IntoView {
    // Whether Copy worked (`Some(true)`) or only selected the text (`Some(false)`).
    let copied = RwSignal::new(None::<bool>);
    let field = NodeRef::<leptos::html::Input>::new();
    let copy = {
        let value = value.clone();
        move |_| {
            if let Some(field) = field.get() {
                field.select();
            }
            let navigator = window().navigator();
            let has_clipboard = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
                .map(|c| !c.is_undefined())
                .unwrap_or(false);
            if !has_clipboard {
                copied.set(Some(false));
                return;
            }
            let promise = navigator.clipboard().write_text(&value);
            leptos::task::spawn_local(async move {
                copied.set(Some(JsFuture::from(promise).await.is_ok()));
            });
        }
    };
    view! {
        <label for=id>{move || label()}</label>
        <div class="row">
            <input
                id=id
                type="text"
                readonly
                prop:value=value
                node_ref=field
                on:focus=move |_| {
                    if let Some(field) = field.get() {
                        field.select();
                    }
                }
            />
            <button type="button" on:click=copy>
                {move || tr!("copy")}
            </button>
        </div>
        <p role="status" class="hint">
            {move || {
                copied.get().map(|done| if done { tr!("copied") } else { tr!("copy-selected") })
            }}
        </p>
    }
}

/// Shows `link` to copy or scan.
#[component]
pub fn ShareLink(
    /// The full link, `{origin}/s/{id}#{secret}`.
    link: String,
    /// Its QR code, an SVG element drawn by the transfer worker.
    qr_svg: String,
) -> impl IntoView {
    view! {
        <div class="share-link">
            <CopyField label=|| tr!("share-link") id="share-link" value=link />
            <figure class="qr">
                <div role="img" aria-label=move || tr!("qr-label") inner_html=qr_svg></div>
                <figcaption class="hint">{move || tr!("qr-hint")}</figcaption>
            </figure>
        </div>
    }
}
