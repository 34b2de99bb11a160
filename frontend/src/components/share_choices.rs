//! The share's expiry and download-limit choices, from the server's limits.
use ferry_common::protocol::Limits;
use leptos::prelude::*;

use crate::{format, tr};

/// The expiry choices a server offers (its maximum alone if it lists none).
pub(crate) fn expiry_options(limits: &Limits) -> Vec<u64> {
    if limits.expiry_choices_secs.is_empty() {
        vec![limits.max_expiry_secs]
    } else {
        limits.expiry_choices_secs.clone()
    }
}

/// A `<select>` of `options` bound to `chosen`, each option worded by `word`.
#[component]
pub(crate) fn Choice<T>(
    /// The select's element ID (its label points at it).
    id: &'static str,
    /// The select's label (from the catalogue).
    label: fn() -> String,
    /// What can be chosen.
    #[prop(into)]
    options: Signal<Vec<T>>,
    /// The choice.
    chosen: RwSignal<T>,
    /// How an option reads.
    word: fn(T) -> String,
    /// Greys it out while a transfer runs.
    #[prop(into)]
    disabled: Signal<bool>,
) -> impl IntoView
where
    T: Copy + PartialEq + ToString + std::str::FromStr + Send + Sync + 'static,
{
    view! {
        <div>
            <label for=id>{move || label()}</label>
            <select
                id=id
                prop:disabled=move || disabled.get()
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).parse() {
                        chosen.set(v);
                    }
                }
            >
                {move || {
                    options
                        .get()
                        .into_iter()
                        .map(|v| {
                            view! {
                                <option value=v.to_string() selected=move || chosen.get() == v>
                                    {move || word(v)}
                                </option>
                            }
                        })
                        .collect_view()
                }}
            </select>
        </div>
    }
}

/// How long the share lives and how many downloads it allows.
#[component]
pub(crate) fn ShareChoices(
    /// The server's limits, once loaded.
    #[prop(into)]
    limits: Signal<Option<Limits>>,
    /// The chosen lifetime, seconds.
    expiry: RwSignal<u64>,
    /// The chosen download limit.
    downloads: RwSignal<u32>,
    /// Greys them out while a transfer runs.
    #[prop(into)]
    disabled: Signal<bool>,
) -> impl IntoView {
    let expiries =
        Signal::derive(move || limits.get().map(|l| expiry_options(&l)).unwrap_or_default());
    let counts =
        Signal::derive(move || limits.get().map(|l| l.download_choices).unwrap_or_default());
    view! {
        <div class="choices">
            <Choice
                id="expiry"
                label=|| tr!("expires-after")
                options=expiries
                chosen=expiry
                word=format::duration
                disabled=disabled
            />
            <Choice
                id="downloads"
                label=|| tr!("download-limit")
                options=counts
                chosen=downloads
                word=|n| tr!("downloads-count", n = n)
                disabled=disabled
            />
        </div>
    }
}
