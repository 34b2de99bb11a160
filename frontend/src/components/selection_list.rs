//! What the send page will send, before it is sent: each file or folder as it was picked,
//! with its size (and a folder's file count), a button to remove it, and the total.
use leptos::prelude::*;
use web_sys::File;

use crate::{format, selection::Selection};

/// `n` with its noun, singular or plural.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

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
                        (true, 0) => "empty folder".into(),
                        (true, n) => {
                            format!(
                                "folder, {}, {}",
                                count(n, "file", "files"),
                                format::bytes(item.size())
                            )
                        }
                    };
                    let label = format!("Remove {}", item.name);
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
                                "Remove"
                            </button>
                        </li>
                    }
                })
                .collect_view();
            let empty = match s.empty_dirs() {
                0 => String::new(),
                n => format!(", {}", count(n, "empty folder", "empty folders")),
            };
            let total = format!(
                "{}{empty}, {} in all.",
                count(s.files(), "file", "files"),
                format::bytes(s.size())
            );
            Some(view! {
                <div class="selection">
                    <ul aria-label="Chosen files and folders">{rows}</ul>
                    <p class="hint" id="selection-total">{total}</p>
                </div>
            })
        })
    }
}
