//! A transfer's status as both pages show it: what it is doing (read out as it changes), a
//! progress bar with percent, speed and time left, and Cancel.
use ferry_worker::{Phase, Report, reconnect::MAX_TRIES};
use leptos::prelude::*;

use crate::{format, tr};

/// Which way the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The send page's upload.
    Upload,
    /// The receive page's download.
    Download,
}

/// What a phase looks like to a person.
fn phase_text(phase: Phase, direction: Direction) -> String {
    let sending = direction == Direction::Upload;
    match (phase, sending) {
        (Phase::DerivingKeys, _) => tr!("phase-keys"),
        (Phase::Connecting, _) => tr!("phase-connecting"),
        (Phase::Transferring, true) => tr!("phase-uploading"),
        (Phase::Transferring, false) => tr!("phase-downloading"),
        (Phase::Finishing, true) => tr!("phase-finishing-upload"),
        (Phase::Finishing, false) => tr!("phase-finishing-download"),
        (Phase::Reconnecting { attempt }, _) => {
            tr!("phase-reconnecting", attempt = attempt, tries = MAX_TRIES)
        }
    }
}

/// What a running transfer has reported: its phase and AES-GCM engine, bytes done of
/// total, and when bytes began to flow. One per page, fed by the worker's reports.
#[derive(Clone, Copy)]
pub struct Progress {
    phase: RwSignal<Option<Phase>>,
    engine: RwSignal<Option<String>>,
    done: RwSignal<u64>,
    total: RwSignal<u64>,
    started: RwSignal<f64>,
}

impl Progress {
    /// Nothing reported yet.
    pub fn new() -> Self {
        Progress {
            phase: RwSignal::new(None),
            engine: RwSignal::new(None),
            done: RwSignal::new(0),
            total: RwSignal::new(0),
            started: RwSignal::new(0.0),
        }
    }

    /// A new transfer of `total` bytes (0 until the worker says).
    pub fn reset(&self, total: u64) {
        self.phase.set(None);
        self.done.set(0);
        self.total.set(total);
        self.started.set(0.0);
    }

    /// The transfer's size, once known.
    pub fn set_total(&self, total: u64) {
        self.total.set(total);
    }

    /// Takes a phase or progress report (true), or leaves any other report to the page.
    pub fn take(&self, report: &Report) -> bool {
        match report {
            Report::Phase { phase, engine } => {
                if *phase == Phase::Transferring && self.started.get_untracked() == 0.0 {
                    self.started.set(js_sys::Date::now());
                }
                self.phase.set(Some(*phase));
                self.engine.set(engine.clone());
                true
            }
            Report::Progress { done, total } => {
                self.done.set(*done);
                self.total.set(*total);
                true
            }
            _ => false,
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// Shows a transfer's percentage in the tab's title while `running` (in another tab, the
/// person still sees how far it is), and the page's own title otherwise. Called once by a
/// page, so that one effect owns the title for the page's lifetime.
pub fn title_shows_progress(running: Signal<bool>, progress: Progress) {
    Effect::new(move |_| {
        let base = tr!("app-title");
        let title = match running.get() {
            true => format!(
                "{}% · {base}",
                percent(progress.done.get(), progress.total.get())
            ),
            false => base,
        };
        document().set_title(&title);
    });
}

/// `done` of `total` in whole percent.
fn percent(done: u64, total: u64) -> u32 {
    (done.min(total) * 100).checked_div(total).unwrap_or(0) as u32
}

/// A running transfer: its phase and AES-GCM engine in a live region, its progress, and a
/// Cancel button.
#[component]
pub fn TransferStatus(
    /// Upload or download.
    direction: Direction,
    /// What the transfer reported.
    progress: Progress,
    /// Cancel pressed.
    on_cancel: Callback<()>,
) -> impl IntoView {
    let label: fn() -> String = match direction {
        Direction::Upload => || tr!("upload-progress"),
        Direction::Download => || tr!("download-progress"),
    };
    view! {
        <p class="hint" aria-live="polite">
            {move || progress.phase.get().map(|p| phase_text(p, direction))}
            {move || progress.engine.get().map(|e| format!(" (AES-GCM: {e})"))}
        </p>
        <TransferProgress label=label progress=progress />
        <button type="button" on:click=move |_| on_cancel.run(())>
            {move || tr!("cancel")}
        </button>
    }
}

/// A transfer's progress: a real `<progress>` with `role="progressbar"` and
/// `aria-valuenow`, the percentage, MB/s and an estimate of the time left.
#[component]
pub fn TransferProgress(
    /// Accessible name, e.g. "Upload progress" (in the current language).
    label: fn() -> String,
    /// What the transfer reported.
    progress: Progress,
) -> impl IntoView {
    let Progress {
        done,
        total,
        started,
        ..
    } = progress;
    let percent = Memo::new(move |_| percent(done.get(), total.get()));
    let stats = move || {
        let (done, total, started) = (done.get(), total.get(), started.get());
        let elapsed = (js_sys::Date::now() - started) / 1000.0;
        if started == 0.0 || done == 0 || elapsed < 0.05 {
            return String::new();
        }
        let speed = done as f64 / elapsed;
        let left = total.saturating_sub(done) as f64 / speed;
        format!(
            "{:.1} MB/s · {}",
            speed / 1_000_000.0,
            tr!("time-left", eta = format::eta(left))
        )
    };
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
