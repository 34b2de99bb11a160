//! "Invite someone to send you a file": a token holder asks the server for an invitation
//! link and passes it on.
use ferry_common::protocol::{InvitationRequest, Limits};
use leptos::prelude::*;

use crate::{
    api,
    components::{
        invitation::ciphertext_len,
        share_choices::{Choice, expiry_options},
        share_link::CopyField,
    },
    format, tr,
};

/// File-size limits an invitation may offer (those under the server's own limit, then
/// that limit).
fn size_options(max_file_size: u64) -> Vec<u64> {
    const MIB: u64 = 1024 * 1024;
    let mut sizes: Vec<u64> = [10 * MIB, 100 * MIB, 1024 * MIB, 10 * 1024 * MIB]
        .into_iter()
        .filter(|&s| s < max_file_size)
        .collect();
    sizes.push(max_file_size);
    sizes
}

/// The invitation form, for someone who entered an upload token. The invitation comes
/// back once, as a link `{origin}/#invite=fi1.…` whose secret stays in the fragment.
#[component]
pub(crate) fn InviteForm(
    /// The upload token (the request's bearer).
    #[prop(into)]
    token: Signal<String>,
    /// The server's limits (largest file, expiry choices).
    limits: Limits,
) -> impl IntoView {
    let sizes = size_options(limits.max_file_size);
    let size = RwSignal::new(
        sizes
            .iter()
            .copied()
            .find(|&s| s == 100 * 1024 * 1024)
            .unwrap_or(limits.max_file_size),
    );
    let expiries = expiry_options(&limits);
    let expiry = RwSignal::new(
        expiries
            .iter()
            .copied()
            .find(|&s| s == 86_400)
            .or_else(|| expiries.first().copied())
            .unwrap_or(limits.max_expiry_secs),
    );
    let busy = RwSignal::new(false);
    let made = RwSignal::new(None::<Result<String, String>>);
    let create = move |_| {
        let token = token.get_untracked();
        if token.is_empty() {
            made.set(Some(Err(tr!("invite-token-first"))));
            return;
        }
        let wanted = InvitationRequest {
            max_bytes: ciphertext_len(size.get_untracked()),
            expires_in_secs: expiry.get_untracked(),
        };
        busy.set(true);
        made.set(None);
        leptos::task::spawn_local(async move {
            let origin = window().location().origin().unwrap_or_default();
            made.set(Some(match api::create_invitation(&token, &wanted).await {
                Ok(inv) => inv
                    .invitation
                    .map(|c| format!("{origin}/#invite={c}"))
                    .ok_or_else(|| tr!("invite-none-sent")),
                Err(e) => Err(e.message()),
            }));
            busy.set(false);
        });
    };
    view! {
        <section class="invite" aria-labelledby="invite-title">
            <h3 id="invite-title">{move || tr!("invite-title")}</h3>
            <p class="hint">{move || tr!("invite-explain")}</p>
            <div class="choices">
                <Choice
                    id="invite-size"
                    label=|| tr!("invite-largest")
                    options=sizes
                    chosen=size
                    word=format::bytes
                    disabled=busy
                />
                <Choice
                    id="invite-expiry"
                    label=|| tr!("invite-valid-for")
                    options=expiries
                    chosen=expiry
                    word=format::duration
                    disabled=busy
                />
            </div>
            <button type="button" on:click=create prop:disabled=move || busy.get()>
                {move || tr!("invite-create")}
            </button>
            {move || match made.get() {
                None => ().into_any(),
                Some(Ok(link)) => {
                    view! {
                        <CopyField label=|| tr!("invite-link") id="invitation-link" value=link />
                        <p class="hint">{move || tr!("invite-shown-once")}</p>
                    }
                        .into_any()
                }
                Some(Err(why)) => {
                    view! {
                        <p class="error" aria-live="polite">
                            {move || tr!("invite-failed", why = why.clone())}
                        </p>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}
