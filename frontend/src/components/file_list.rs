//! The files and folders of a share of several, as the receive page lists them once the
//! passphrase opened the share's manifest: the names they get in the ZIP, and their sizes.
use ferry_worker::ListedEntry;
use leptos::prelude::*;

use crate::{format, tr};

/// Entries shown before the rest are folded under "and N more".
const SHOWN: usize = 200;

/// The list of `entries` (nothing when empty: a single-file share).
#[component]
pub fn FileList(
    /// The share's entries, in the ZIP's order.
    entries: Signal<Vec<ListedEntry>>,
) -> impl IntoView {
    move || {
        let entries = entries.get();
        if entries.is_empty() {
            return None;
        }
        let files = entries.iter().filter(|e| e.size.is_some()).count();
        let folders = entries.len() - files;
        let more = entries.len().saturating_sub(SHOWN);
        let rows = entries
            .into_iter()
            .take(SHOWN)
            .map(|e| {
                let size = e.size.map_or_else(|| tr!("entry-folder"), format::bytes);
                view! {
                    <li>
                        <span class="name">{e.path}</span>
                        " "
                        <span class="size">{size}</span>
                    </li>
                }
            })
            .collect_view();
        Some(view! {
            <details class="file-list" open=files + folders <= 20>
                <summary>
                    {move || tr!("share-files-zip", files = files, folders = folders)}
                </summary>
                <ul>{rows}</ul>
                {(more > 0).then(|| view! { <p class="hint">{move || tr!("and-more", n = more)}</p> })}
            </details>
        })
    }
}
