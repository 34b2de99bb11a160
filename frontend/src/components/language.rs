//! The header's language switch: every language the pages are translated into, by its own
//! name; the choice applies at once and is remembered in this browser.
use leptos::prelude::*;

use crate::{
    i18n::{self, Lang},
    tr,
};

/// A labelled `<select>` of the languages, bound to `lang`.
#[component]
pub fn LanguageSwitch(
    /// The language the pages show.
    lang: RwSignal<Lang>,
) -> impl IntoView {
    view! {
        <div class="language">
            <label for="language">{move || tr!("language")}</label>
            <select
                id="language"
                on:change=move |ev| {
                    if let Some(chosen) = Lang::from_tag(&event_target_value(&ev)) {
                        i18n::remember(chosen);
                        lang.set(chosen);
                    }
                }
            >
                {Lang::ALL
                    .into_iter()
                    .map(|l| {
                        view! {
                            <option value=l.tag() lang=l.tag() selected=move || lang.get() == l>
                                {l.name()}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </div>
    }
}
