//! The finished link: a read-only field, a Copy button and a QR code.
use leptos::prelude::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// Shows `link` to copy or scan.
#[component]
pub fn ShareLink(
    /// The full link, `{origin}/s/{id}#{secret}`.
    link: String,
    /// Its QR code, an SVG element drawn by the transfer worker.
    qr_svg: String,
) -> impl IntoView {
    let svg = qr_svg;
    let copied = RwSignal::new(None::<&'static str>);
    let field = NodeRef::<leptos::html::Input>::new();
    let copy = {
        let link = link.clone();
        move |_| {
            if let Some(field) = field.get() {
                field.select();
            }
            let navigator = window().navigator();
            let has_clipboard = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
                .map(|c| !c.is_undefined())
                .unwrap_or(false);
            if !has_clipboard {
                copied.set(Some("Selected: press Ctrl+C (or ⌘C) to copy."));
                return;
            }
            let promise = navigator.clipboard().write_text(&link);
            leptos::task::spawn_local(async move {
                copied.set(Some(match JsFuture::from(promise).await {
                    Ok(_) => "Copied to the clipboard.",
                    Err(_) => "Selected: press Ctrl+C (or ⌘C) to copy.",
                }));
            });
        }
    };
    view! {
        <div class="share-link">
            <label for="share-link">"Share link"</label>
            <div class="row">
                <input
                    id="share-link"
                    type="text"
                    readonly
                    prop:value=link.clone()
                    node_ref=field
                    on:focus=move |_| {
                        if let Some(field) = field.get() {
                            field.select();
                        }
                    }
                />
                <button type="button" on:click=copy>
                    "Copy"
                </button>
            </div>
            <p role="status" class="hint">
                {move || copied.get()}
            </p>
            <figure class="qr">
                <div role="img" aria-label="QR code of the share link" inner_html=svg></div>
                <figcaption class="hint">"Scan to open the link on a phone."</figcaption>
            </figure>
        </div>
    }
}
