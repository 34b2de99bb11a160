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

/// What the sender knows of the share now.
#[derive(Clone, Debug, PartialEq)]
enum Status {
    /// Not asked yet.
    NotYet,
    /// Nobody downloaded it yet.
    Waiting { left: u32, expires_at: i64 },
    /// Downloaded `done` times, `left` more allowed.
    Downloaded { done: u32, left: u32 },
    /// Expired, used up or deleted elsewhere: the server no longer has it.
    Gone,
    /// The server could not be asked; why.
    Unknown(String),
    /// Deleted from this page.
    Deleted,
    /// Delete was refused or failed; why.
    DeleteFailed(String),
}

impl Status {
    /// Asks the server (with the owner token).
    async fn of(share: &Shared) -> Status {
        match api::share_status(&share.share_id, &share.owner_token).await {
            Ok(st) if st.downloads_done == 0 => Status::Waiting {
                left: st.downloads_left,
                expires_at: st.expires_at,
            },
            Ok(st) => Status::Downloaded {
                done: st.downloads_done,
                left: st.downloads_left,
            },
            Err(e) if e.code().is_some() => Status::Gone,
            Err(e) => Status::Unknown(e.message()),
        }
    }

    /// The status in words (in the language of the moment: the text follows the switch).
    fn text(&self) -> String {
        match self {
            Status::NotYet => tr!("status-not-yet"),
            Status::Waiting { left, expires_at } => tr!(
                "status-waiting",
                left = *left,
                expires = format::when(*expires_at)
            ),
            Status::Downloaded { done, left } => {
                tr!("status-downloaded", done = *done, left = *left)
            }
            Status::Gone => tr!("status-gone"),
            Status::Unknown(why) => tr!("status-unknown", why = why.clone()),
            Status::Deleted => tr!("status-deleted"),
            Status::DeleteFailed(why) => tr!("delete-failed", why = why.clone()),
        }
    }
}

/// The finished upload `share`; `on_again` starts over with a new selection.
#[component]
pub fn SharedPanel(share: Shared, on_again: Callback<()>) -> impl IntoView {
    let status = RwSignal::new(Status::NotYet);
    let deleted = move || status.with(|s| *s == Status::Deleted);
    let share = StoredValue::new(share);
    let refresh = move || {
        if status.with_untracked(|s| *s == Status::Deleted) {
            return;
        }
        let share = share.get_value();
        leptos::task::spawn_local(async move {
            let now = Status::of(&share).await;
            // A delete that finished meanwhile has the last word.
            status.update(|s| {
                if *s != Status::Deleted {
                    *s = now;
                }
            });
        });
    };
    if let Ok(handle) = set_interval_with_handle(refresh, Duration::from_secs(5)) {
        on_cleanup(move || handle.clear());
    }
    let delete = move |_| {
        let share = share.get_value();
        leptos::task::spawn_local(async move {
            status.set(
                match api::delete_share(&share.share_id, &share.owner_token).await {
                    Ok(()) => Status::Deleted,
                    Err(e) => Status::DeleteFailed(e.message()),
                },
            );
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
                {move || status.with(Status::text)}
            </p>
            <div class="row">
                <button
                    type="button"
                    on:click=move |_| refresh()
                    prop:disabled=deleted
                >
                    {move || tr!("refresh-status")}
                </button>
                <button
                    type="button"
                    class="danger"
                    on:click=delete
                    prop:disabled=deleted
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
