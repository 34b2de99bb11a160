//! A progress bar with percent, speed and time left.
use leptos::prelude::*;

use crate::format;

/// A transfer's progress: a real `<progress>` with `role="progressbar"` and
/// `aria-valuenow`, the percentage, MB/s and an estimate of the time left.
#[component]
pub fn TransferProgress(
    /// Accessible name, e.g. "Upload progress".
    label: &'static str,
    /// Bytes done.
    #[prop(into)]
    done: Signal<u64>,
    /// Bytes in all.
    #[prop(into)]
    total: Signal<u64>,
    /// When bytes started to flow (ms since the epoch); 0 before that.
    #[prop(into)]
    started: Signal<f64>,
) -> impl IntoView {
    let percent = Memo::new(move |_| {
        let (done, total) = (done.get(), total.get());
        (done.min(total) * 100).checked_div(total).unwrap_or(0) as u32
    });
    let stats = move || {
        let (done, total, started) = (done.get(), total.get(), started.get());
        let elapsed = (js_sys::Date::now() - started) / 1000.0;
        if started == 0.0 || done == 0 || elapsed < 0.05 {
            return String::new();
        }
        let speed = done as f64 / elapsed;
        let left = total.saturating_sub(done) as f64 / speed;
        format!(
            "{:.1} MB/s · {} left",
            speed / 1_000_000.0,
            format::eta(left)
        )
    };
    // The tab's title shows the percentage while the transfer runs (in another tab, the
    // person still sees how far it is), and gets its own back after.
    let title = document().title();
    Effect::new({
        let title = title.clone();
        move |_| document().set_title(&format!("{}% · {title}", percent.get()))
    });
    on_cleanup(move || document().set_title(&title));
    view! {
        <div class="progress">
            <progress
                max="100"
                value=move || percent.get()
                role="progressbar"
                aria-label=label
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=move || percent.get().to_string()
            ></progress>
            <span class="percent">{move || format!("{}%", percent.get())}</span>
            <span class="stats">{stats}</span>
        </div>
    }
}
