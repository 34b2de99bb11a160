//! Moving focus to what just appeared (a result, an error), so that keyboard and screen
//! reader users land on it instead of on a button that is gone.
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// Focuses the element with this ID once the page has drawn it (it may be rendered by the
/// signal change that asked for focus). The element needs `tabindex="-1"` unless it is a
/// control.
pub fn focus_soon(id: &'static str) {
    request_animation_frame(move || {
        if let Some(element) = document()
            .get_element_by_id(id)
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = element.focus();
        }
    });
}
