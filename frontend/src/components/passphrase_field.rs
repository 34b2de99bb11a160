//! The passphrase field both pages share: a password input with a Show/Hide button, and on
//! the send page a strength hint read out as it changes.
use leptos::{html, prelude::*};

use crate::{components::secret_input::SecretInput, format, tr};

/// What the field is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Choosing a passphrase (send): the browser may suggest one, and its strength is shown.
    Choose,
    /// Typing the passphrase one was given (receive).
    Enter,
}

/// The labelled passphrase input (`id="passphrase"`) with its Show/Hide toggle.
#[component]
pub fn PassphraseField(
    /// What is typed.
    passphrase: RwSignal<String>,
    /// Choosing or entering.
    purpose: Purpose,
    /// The input, for the page to focus or select.
    field: NodeRef<html::Input>,
    /// While a transfer runs (or once it is done).
    #[prop(into)]
    disabled: Signal<bool>,
) -> impl IntoView {
    let choosing = purpose == Purpose::Choose;
    let strength = move || {
        let (bits, hint) = format::strength(&passphrase.get());
        if bits == 0 {
            String::new()
        } else {
            tr!("strength-bits", bits = bits, hint = hint)
        }
    };
    view! {
        <label for="passphrase">{move || tr!("passphrase")}</label>
        <SecretInput
            id="passphrase"
            value=passphrase
            field=field
            autocomplete=if choosing { "new-password" } else { "off" }
            described_by=choosing.then_some("strength")
            disabled=disabled
        />
        {choosing
            .then(|| {
                view! {
                    <p id="strength" class="hint" aria-live="polite">
                        {strength}
                    </p>
                }
            })}
    }
}
