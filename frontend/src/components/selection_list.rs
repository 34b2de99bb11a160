//! What the send page will send, before it is sent: each file or folder as it was picked,
//! with its size (and a folder's file count), a button to remove it, and the total.
use leptos::prelude::*;
use web_sys::File;

use crate::{format, selection::Selection, tr};

/// The chosen files and folders (nothing when nothing is chosen).
#[component]
pub fn SelectionList(
    /// What is chosen.
    selection: RwSignal<Selection<File>, LocalStorage>,
    /// Nothing can be removed while a transfer runs.
    #[prop(into)]
    disabled: Signal<bool>,
) -> impl IntoView {
    move || {
        selection.with(|s| {
            if s.is_empty() {
                return None;
            }
            let rows = s
                .items()
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let detail = match (item.folder, item.files()) {
                        (false, _) => format::bytes(item.size()),
                        (true, 0) => tr!("pick-empty-folder"),
                        (true, n) => {
                            tr!("pick-folder", n = n, size = format::bytes(item.size()))
                        }
                    };
                    let label = tr!("remove-label", name = item.name.clone());
                    view! {
                        <li>
                            <span class="name">{item.name.clone()}</span>
                            " "
                            <span class="size">{detail}</span>
                            " "
                            <button
                                type="button"
                                class="remove"
                                aria-label=label
                                prop:disabled=move || disabled.get()
                                on:click=move |_| selection.update(|s| s.remove(index))
                            >
                                {tr!("remove")}
                            </button>
                        </li>
                    }
                })
                .collect_view();
            let total = tr!(
                "selection-total",
                files = s.files(),
                folders = s.empty_dirs(),
                size = format::bytes(s.size())
            );
            Some(view! {
                <div class="selection">
                    <ul aria-label=tr!("chosen-label")>{rows}</ul>
                    <p class="hint" id="selection-total">{total}</p>
                </div>
            })
        })
    }
}
