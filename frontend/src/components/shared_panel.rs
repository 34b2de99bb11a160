//! What the sender sees once an upload committed: the link and its QR code, the reminder to
//! send the passphrase another way, the share's status (refreshed every few seconds), and
//! Delete.
use std::time::Duration;

use leptos::prelude::*;

use crate::{api, components::share_link::ShareLink, format, tr};

/// A finished upload, as the sender sees it. The owner token lives only here, in this
/// page's memory, and is sent only to this share's status and delete endpoints; closing
/// or reloading the tab gives up control of the share (it still expires).
#[derive(Clone, Debug, PartialEq)]
pub struct Shared {
    /// The share ID.
    pub share_id: String,
    /// The full link, secret included.
    pub link: String,
    /// The link's QR code (SVG).
    pub qr_svg: String,
    /// The owner token (base64url).
    pub owner_token: String,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_at: i64,
}

/// The share's status in words, from the server (with the owner token).
async fn status_text(share: &Shared) -> String {
    match api::share_status(&share.share_id, &share.owner_token).await {
        Ok(st) if st.downloads_done == 0 => tr!(
            "status-waiting",
            left = st.downloads_left,
            expires = format::when(st.expires_at)
        ),
        Ok(st) => tr!(
            "status-downloaded",
            done = st.downloads_done,
            left = st.downloads_left
        ),
        Err(e) if e.code().is_some() => tr!("status-gone"),
        Err(e) => tr!("status-unknown", why = e.message()),
    }
}

/// The finished upload `share`; `on_again` starts over with a new selection.
#[component]
pub fn SharedPanel(share: Shared, on_again: Callback<()>) -> impl IntoView {
    let status = RwSignal::new(Some(tr!("status-not-yet")));
    let deleted = RwSignal::new(false);
    let share = StoredValue::new(share);
    let refresh = move || {
        if deleted.get_untracked() {
            return;
        }
        let share = share.get_value();
        leptos::task::spawn_local(async move { status.set(Some(status_text(&share).await)) });
    };
    if let Ok(handle) = set_interval_with_handle(refresh, Duration::from_secs(5)) {
        on_cleanup(move || handle.clear());
    }
    let delete = move |_| {
        let share = share.get_value();
        leptos::task::spawn_local(async move {
            match api::delete_share(&share.share_id, &share.owner_token).await {
                Ok(()) => {
                    deleted.set(true);
                    status.set(Some(tr!("status-deleted")));
                }
                Err(e) => status.set(Some(tr!("delete-failed", why = e.message()))),
            }
        });
    };
    let s = share.get_value();
    view! {
        <div class="done">
            <h3 id="shared-title" tabindex="-1">
                {move || tr!("ready-to-share")}
            </h3>
            <ShareLink link=s.link qr_svg=s.qr_svg />
            <p class="reminder">
                <strong>{move || tr!("reminder-strong")}</strong>
                " "
                {move || tr!("reminder-rest")}
            </p>
            <p class="hint">{move || tr!("expires-at", when = format::when(s.expires_at))}</p>
            <p role="status" class="status">
                {move || status.get()}
            </p>
            <div class="row">
                <button
                    type="button"
                    on:click=move |_| refresh()
                    prop:disabled=move || deleted.get()
                >
                    {move || tr!("refresh-status")}
                </button>
                <button
                    type="button"
                    class="danger"
                    on:click=delete
                    prop:disabled=move || deleted.get()
                >
                    {move || tr!("delete")}
                </button>
                <button type="button" on:click=move |_| on_again.run(())>
                    {move || tr!("send-another")}
                </button>
            </div>
        </div>
    }
}
