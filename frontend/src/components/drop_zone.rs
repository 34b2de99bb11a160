//! A drop zone that is also a keyboard-reachable button opening the file picker.
use leptos::{
    ev::{DragEvent, KeyboardEvent},
    html,
    prelude::*,
};
use web_sys::HtmlInputElement;

/// Drop a file or press Enter/Space (or click) to pick one.
#[component]
pub fn DropZone(
    /// What the zone says (the chosen file, or an invitation).
    #[prop(into)]
    title: Signal<String>,
    /// Called with the dropped or picked file.
    on_file: Callback<web_sys::File>,
    /// Greys the zone out while a transfer runs.
    #[prop(into)]
    disabled: Signal<bool>,
) -> impl IntoView {
    let input = NodeRef::<html::Input>::new();
    let over = RwSignal::new(false);
    let open = move || {
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
        if let Some(file) = ev
            .data_transfer()
            .and_then(|dt| dt.files())
            .and_then(|files| files.get(0))
        {
            on_file.run(file);
        }
    };
    let on_change = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|files| files.get(0)) {
            on_file.run(file);
        }
        // Picking the same file again must fire `change` again.
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
            on:click=move |_| open()
            on:keydown=move |ev: KeyboardEvent| {
                if ev.key() == "Enter" || ev.key() == " " {
                    ev.prevent_default();
                    open();
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
                "Drop a file here, or click (or press Enter) to choose one."
            </p>
        </div>
        <input
            type="file"
            id="file-input"
            class="visually-hidden"
            tabindex="-1"
            aria-label="Choose a file"
            node_ref=input
            on:change=on_change
        />
    }
}
