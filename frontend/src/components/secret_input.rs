//! A password-type input with a Show/Hide toggle, for the passphrase and the upload token.
use leptos::{html, prelude::*};

use crate::tr;

/// The input (`id`) and its Show/Hide button, in one row. What is typed stays in `value`,
/// this tab's memory, only.
#[component]
pub(crate) fn SecretInput(
    /// The input's element ID (its label points at it).
    id: &'static str,
    /// What is typed.
    value: RwSignal<String>,
    /// The input, for the page to focus or select.
    field: NodeRef<html::Input>,
    /// The browser's autofill hint (`new-password`, `off`).
    autocomplete: &'static str,
    /// The ID of the text that describes the field, if any.
    #[prop(optional_no_strip)]
    described_by: Option<&'static str>,
    /// The Show button's accessible name, where "Show" alone would be ambiguous.
    #[prop(optional)]
    show_label: Option<fn() -> String>,
    /// Keep what is typed without surrounding spaces (a token, never a passphrase).
    #[prop(optional)]
    trim: bool,
    /// While a transfer runs (or once it is done).
    #[prop(into)]
    disabled: Signal<bool>,
) -> impl IntoView {
    let show = RwSignal::new(false);
    view! {
        <div class="row">
            <input
                id=id
                type=move || if show.get() { "text" } else { "password" }
                autocomplete=autocomplete
                spellcheck="false"
                aria-describedby=described_by
                node_ref=field
                prop:value=move || value.get()
                on:input=move |ev| {
                    let typed = event_target_value(&ev);
                    value.set(if trim { typed.trim().to_owned() } else { typed });
                }
                prop:disabled=move || disabled.get()
            />
            <button
                type="button"
                aria-label=move || show_label.map(|label| label())
                aria-pressed=move || show.get().to_string()
                on:click=move |_| show.update(|s| *s = !*s)
            >
                {move || if show.get() { tr!("hide") } else { tr!("show") }}
            </button>
        </div>
    }
}
