//! The receive page: `/s/{id}#{secret}`. Says at once whether a file is waiting; asks
//! for the passphrase; downloads, decrypts and saves under the original name.
use ferry_common::{Header, LinkSecret, b64, protocol::ErrorCode};
use ferry_worker::{BLOB_CAP, Command, Phase, Report};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::{
    api,
    components::progress::TransferProgress,
    format,
    pages::phase_text,
    transfer::{Transfer, force_wasm_aes},
};

/// What the page knows before any passphrase is typed.
#[derive(Clone, Debug, PartialEq)]
enum Availability {
    Checking,
    /// A file is waiting; `size` is its plaintext size.
    Waiting {
        header: String,
        size: u64,
        downloads_left: u32,
        expires_at: i64,
    },
    /// Why there is nothing to download.
    Unavailable(String),
}

/// Saves `blob` under `name` through a temporary object URL and an `<a download>`.
fn save(blob: &web_sys::Blob, name: &str) -> Result<(), wasm_bindgen::JsValue> {
    let url = web_sys::Url::create_object_url_with_blob(blob)?;
    let document = document();
    let a: web_sys::HtmlAnchorElement = document.create_element("a")?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.set_class_name("visually-hidden");
    if let Some(body) = document.body() {
        body.append_child(&a)?;
        a.click();
        a.remove();
    }
    // Revoke later: revoking at once can cancel the download in some browsers.
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(60),
    );
    Ok(())
}

/// The receive page for share `id`.
#[component]
pub fn ReceivePage(
    /// The share ID from the path.
    id: String,
) -> impl IntoView {
    let fragment = window().location().hash().unwrap_or_default();
    let secret = fragment.strip_prefix('#').unwrap_or(&fragment).to_owned();
    let link_ok = LinkSecret::from_fragment(&secret).is_ok();

    // -- signals -- //
    let availability = RwSignal::new(Availability::Checking);
    let passphrase = RwSignal::new(String::new());
    let show = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let working = RwSignal::new(false);
    let phase = RwSignal::new(None::<Phase>);
    let engine = RwSignal::new(None::<String>);
    let file = RwSignal::new(None::<(String, u64)>);
    let done = RwSignal::new(0u64);
    let total = RwSignal::new(0u64);
    let started = RwSignal::new(0.0f64);
    let saved = RwSignal::new(None::<String>);
    let transfer = StoredValue::new_local(None::<Transfer>);
    let field = NodeRef::<leptos::html::Input>::new();

    {
        let id = id.clone();
        leptos::task::spawn_local(async move {
            let state = match api::share_info(&id).await {
                Ok(info) => {
                    let header = Header::parse(&info.header.0).ok();
                    match header.and_then(|h| h.plaintext_len(info.ciphertext_size)) {
                        Some(size) => Availability::Waiting {
                            header: b64::encode(&info.header.0),
                            size,
                            downloads_left: info.downloads_left,
                            expires_at: info.expires_at,
                        },
                        None => Availability::Unavailable(
                            "This share is damaged (its public header is invalid); ask the sender to send the file again.".into(),
                        ),
                    }
                }
                Err(e) => Availability::Unavailable(match e.code() {
                    Some(ErrorCode::NotFound) => {
                        "No file is waiting at this link: it was deleted, already downloaded, or never existed.".into()
                    }
                    Some(ErrorCode::Expired) => {
                        "This link has expired: the file was deleted and can no longer be downloaded.".into()
                    }
                    Some(ErrorCode::UsedUp) => {
                        "This file has already been downloaded: the link allowed no more downloads.".into()
                    }
                    _ => format!("The server could not say whether a file is waiting: {}", e.message()),
                }),
            };
            availability.set(state);
        });
    }

    let start = {
        let id = id.clone();
        let secret = secret.clone();
        move || {
            error.set(None);
            let Availability::Waiting { header, .. } = availability.get_untracked() else {
                return;
            };
            let pass = passphrase.get_untracked();
            if pass.trim().is_empty() {
                error.set(Some("Enter the passphrase the sender gave you.".into()));
                return;
            }
            let command = Command::Download {
                share_id: id.clone(),
                header,
                secret: secret.clone(),
                passphrase: pass,
                force_wasm_aes: force_wasm_aes(),
            };
            working.set(true);
            phase.set(None);
            done.set(0);
            started.set(0.0);
            let on_report = move |report: Report, blob: Option<web_sys::Blob>| match report {
                Report::Phase {
                    phase: p,
                    engine: e,
                } => {
                    if p == Phase::Transferring {
                        started.set(js_sys::Date::now());
                    }
                    phase.set(Some(p));
                    engine.set(e);
                }
                Report::Metadata { name, size } => {
                    total.set(size);
                    file.set(Some((name, size)));
                }
                Report::Progress { done: d, total: t } => {
                    done.set(d);
                    total.set(t);
                }
                Report::Downloaded {
                    name,
                    downloads_left,
                } => {
                    working.set(false);
                    passphrase.set(String::new());
                    let Some(blob) = blob else {
                        error.set(Some("The browser lost the decrypted file.".into()));
                        return;
                    };
                    match save(&blob, &name) {
                        Ok(()) => saved.set(Some(match downloads_left {
                            Some(0) => format!("Saved “{name}”. The link is now used up."),
                            Some(n) => format!(
                                "Saved “{name}”. The link allows {n} more download{}.",
                                if n == 1 { "" } else { "s" }
                            ),
                            None => format!("Saved “{name}”."),
                        })),
                        Err(_) => error.set(Some("The browser refused to save the file.".into())),
                    }
                }
                Report::Failed(f) => {
                    working.set(false);
                    let text = match f.code.as_str() {
                        "wrong-token" => {
                            let left = f.attempts_left.map_or(String::new(), |n| {
                                format!(
                                    " {n} attempt{} left.",
                                    if n == 1 { "" } else { "s" }
                                )
                            });
                            if let Some(input) = field.get_untracked() {
                                input.select();
                            }
                            format!("Wrong passphrase (or the link is not the one the sender gave you).{left} Please try again.")
                        }
                        "corrupted" => {
                            file.set(None);
                            "The file was altered in storage and cannot be trusted. Nothing was saved. Ask the sender to send it again.".into()
                        }
                        "expired" => "This link has expired.".into(),
                        "used-up" | "not-found" => {
                            "This file is no longer available: it has already been downloaded, or was deleted.".into()
                        }
                        "busy" => "Someone else is downloading this file right now; try again in a minute.".into(),
                        _ => format!("The download failed: {}", f.message),
                    };
                    error.set(Some(text));
                }
                _ => {}
            };
            match Transfer::start(&command, None, on_report) {
                Ok(t) => transfer.set_value(Some(t)),
                Err(f) => {
                    working.set(false);
                    error.set(Some(f.message));
                }
            }
        }
    };
    let start = StoredValue::new(start);

    let cancel = move |_| {
        transfer.with_value(|t| {
            if let Some(t) = t {
                t.stop();
            }
        });
        working.set(false);
        error.set(Some(
            "Download cancelled. Nothing was saved, and the download was not counted.".into(),
        ));
    };

    let form = move |size: u64, downloads_left: u32, expires_at: i64| {
        let too_big = size > BLOB_CAP;
        view! {
            <p class="waiting">
                {format!(
                    "A file is waiting for you ({}). It expires {}; {} download{} left.",
                    format::bytes(size),
                    format::when(expires_at),
                    downloads_left,
                    if downloads_left == 1 { "" } else { "s" },
                )}
            </p>
            {too_big
                .then(|| {
                    view! {
                        <p class="error" role="alert">
                            {format!(
                                "This page can save files up to {} for now; this one is larger.",
                                format::bytes(BLOB_CAP),
                            )}
                        </p>
                    }
                })}
            <p class="hint">
                {format!("This page saves files up to {} (kept in memory until saved).", format::bytes(BLOB_CAP))}
            </p>
            <form class="receive" on:submit=move |ev| {
                ev.prevent_default();
                if !working.get_untracked() && saved.get_untracked().is_none() {
                    start.with_value(|s| s());
                }
            }>
                <label for="passphrase">"Passphrase"</label>
                <div class="row">
                    <input
                        id="passphrase"
                        type=move || if show.get() { "text" } else { "password" }
                        autocomplete="off"
                        spellcheck="false"
                        node_ref=field
                        prop:value=move || passphrase.get()
                        on:input=move |ev| passphrase.set(event_target_value(&ev))
                        prop:disabled=move || working.get() || saved.get().is_some()
                    />
                    <button
                        type="button"
                        aria-pressed=move || show.get().to_string()
                        on:click=move |_| show.update(|s| *s = !*s)
                    >
                        {move || if show.get() { "Hide" } else { "Show" }}
                    </button>
                </div>
                <p class="error" role="alert">
                    {move || error.get()}
                </p>
                <Show when=move || !working.get() && saved.get().is_none()>
                    <button type="submit" class="primary" prop:disabled=too_big>
                        "Download"
                    </button>
                </Show>
            </form>
            {move || {
                file.get()
                    .map(|(name, size)| {
                        view! {
                            <p class="file">
                                <span class="name">{name}</span>
                                {format!(" ({})", format::bytes(size))}
                            </p>
                        }
                    })
            }}
            <Show when=move || working.get()>
                <p class="hint" aria-live="polite">
                    {move || phase.get().map(|p| phase_text(p, false))}
                    {move || engine.get().map(|e| format!(" (AES-GCM: {e})"))}
                </p>
                <TransferProgress label="Download progress" done=done total=total started=started />
                <button type="button" on:click=cancel>
                    "Cancel"
                </button>
            </Show>
            <p role="status" class="saved">
                {move || saved.get()}
            </p>
        }
    };

    view! {
        <section aria-labelledby="receive-title">
            <h2 id="receive-title">"Receive a file"</h2>
            {move || match availability.get() {
                Availability::Checking => {
                    view! { <p class="hint">"Checking the link…"</p> }.into_any()
                }
                Availability::Unavailable(why) => {
                    view! {
                        <p class="error unavailable" role="alert">
                            {why}
                        </p>
                    }
                        .into_any()
                }
                Availability::Waiting { .. } if !link_ok => {
                    view! {
                        <p class="error unavailable" role="alert">
                            "This link is incomplete: the part after “#” is missing or damaged. Ask the sender to send the whole link again."
                        </p>
                    }
                        .into_any()
                }
                Availability::Waiting { size, downloads_left, expires_at, .. } => {
                    form(size, downloads_left, expires_at).into_any()
                }
            }}
        </section>
    }
}
