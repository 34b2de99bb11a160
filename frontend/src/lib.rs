//! Ferry's web app: a Leptos client-side-rendered page with two routes.
//!
//! - `/`: [`pages::send::SendPage`]: choose files and a passphrase, encrypt and upload
//!   in a Web Worker, share the link.
//! - `/s/{id}#{secret}`: [`pages::receive::ReceivePage`]: check the share, ask for the
//!   passphrase, download and decrypt in a Web Worker, save.
//!
//! Nothing secret stays on the main thread longer than a click: the passphrase goes to
//! the transfer worker (`ferry-worker`), which derives keys, runs AES-GCM and the
//! WebSocket transfer, and reports progress.
#![deny(missing_docs)]

pub mod api;
pub mod bundle;
pub mod components;
mod failures;
pub mod focus;
pub mod format;
pub mod i18n;
pub mod pages;
pub mod pick;
pub mod save;
pub mod selection;
pub mod transfer;

use leptos::prelude::*;

/// A path segment that may name a share: the share-ID alphabet only (the client core's
/// `is_id_char`). Its length is left to the server, whose "does not exist" answer the
/// receive page shows; the worker checks the full shape (`ShareId::parse`) before it
/// opens the download socket.
fn valid_share_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(ferry_common::client::share_id::is_id_char)
}

/// The whole app: picks the page from the address.
#[component]
pub fn App() -> impl IntoView {
    let lang = i18n::init();
    let path = window().location().pathname().unwrap_or_default();
    let page = match path.strip_prefix("/s/") {
        Some(id) if valid_share_id(id) => {
            view! { <pages::receive::ReceivePage id=id.to_owned() /> }.into_any()
        }
        _ if path == "/" || path == "/index.html" => view! { <pages::send::SendPage /> }.into_any(),
        _ => view! {
            <section>
                <h2>{move || crate::tr!("not-found")}</h2>
                <p>
                    <a href="/">{move || crate::tr!("send-a-file")}</a>
                </p>
            </section>
        }
        .into_any(),
    };
    view! {
        <header>
            <h1>
                <a href="/">"Ferry"</a>
            </h1>
            <p class="tagline">{move || crate::tr!("tagline")}</p>
            <components::language::LanguageSwitch lang=lang />
        </header>
        <main id="app-main">{page}</main>
        <footer class="hint">
            {move || crate::tr!("footer")}
        </footer>
    }
}

#[cfg(test)]
mod tests {
    use super::valid_share_id;

    #[test]
    fn share_ids() {
        assert!(valid_share_id("abc_DEF-123"));
        assert!(!valid_share_id(""));
        assert!(!valid_share_id("a/b"));
        assert!(!valid_share_id(&"a".repeat(65)));
    }
}
