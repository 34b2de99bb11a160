//! A drop zone for files and folders that is also a keyboard-reachable button opening the
//! file picker, with a second button for the folder picker.
use leptos::{
    ev::{DragEvent, KeyboardEvent},
    html,
    prelude::*,
};
use web_sys::{File, HtmlInputElement};

use crate::{pick, selection::Picked, tr};

/// What one drop or pick found, and whether reading a folder stopped at the limit.
pub type Found = (Vec<Picked<File>>, bool);

/// Drop files or folders, or press Enter/Space (or click) to pick files; the button beside
/// picks a folder.
#[component]
pub fn DropZone(
    /// What the zone says (what is chosen, or an invitation).
    #[prop(into)]
    title: Signal<String>,
    /// Called with what was dropped or picked.
    on_pick: Callback<Found>,
    /// Greys the zone out while a transfer runs.
    #[prop(into)]
    disabled: Signal<bool>,
) -> impl IntoView {
    let files_input = NodeRef::<html::Input>::new();
    let folder_input = NodeRef::<html::Input>::new();
    let over = RwSignal::new(false);
    // No attribute for it in the view macro: set the property once the input exists.
    Effect::new(move |_| {
        if let Some(input) = folder_input.get() {
            input.set_webkitdirectory(true);
        }
    });
    let open = move |input: NodeRef<html::Input>| {
        if !disabled.get_untracked()
            && let Some(input) = input.get()
        {
            input.click();
        }
    };
    let on_drop = move |ev: DragEvent| {
        ev.prevent_default();
        over.set(false);
        if disabled.get_untracked() {
            return;
        }
        let Some(dropped) = ev.data_transfer().map(|dt| pick::dropped(&dt)) else {
            return;
        };
        leptos::task::spawn_local(async move { on_pick.run(pick::walk(dropped).await) });
    };
    let on_change = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        if let Some(files) = input.files() {
            on_pick.run((pick::from_input(&files), false));
        }
        // Picking the same files again must fire `change` again.
        input.set_value("");
    };
    view! {
        <div
            class="dropzone"
            class:over=move || over.get()
            class:disabled=move || disabled.get()
            role="button"
            tabindex="0"
            aria-describedby="dropzone-hint"
            aria-disabled=move || disabled.get().to_string()
            on:click=move |_| open(files_input)
            on:keydown=move |ev: KeyboardEvent| {
                if ev.key() == "Enter" || ev.key() == " " {
                    ev.prevent_default();
                    open(files_input);
                }
            }
            on:dragover=move |ev: DragEvent| {
                ev.prevent_default();
                over.set(true);
            }
            on:dragleave=move |_| over.set(false)
            on:drop=on_drop
        >
            <p class="dropzone-title">{move || title.get()}</p>
            <p id="dropzone-hint" class="hint">
                {move || tr!("drop-hint")}
            </p>
        </div>
        <button
            type="button"
            class="folder-pick"
            on:click=move |_| open(folder_input)
            prop:disabled=move || disabled.get()
        >
            {move || tr!("choose-folder")}
        </button>
        <input
            type="file"
            id="file-input"
            class="visually-hidden"
            tabindex="-1"
            multiple
            aria-label=move || tr!("choose-files")
            node_ref=files_input
            on:change=on_change
        />
        <input
            type="file"
            id="folder-input"
            class="visually-hidden"
            tabindex="-1"
            aria-label=move || tr!("choose-folder-label")
            node_ref=folder_input
            on:change=on_change
        />
    }
}
