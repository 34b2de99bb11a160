//! Saving a received file: streamed to disk through the service worker (`sw.js`) where the
//! browser has one, else assembled as a `Blob` of at most [`ferry_worker::BLOB_CAP`].
//!
//! Streaming: the page makes a `MessageChannel` and hands one port to the service worker at
//! once and the other to the decrypting worker, which sends the service worker the
//! download's source (claim, key, layout); the service worker fetches, opens and streams
//! the file (see `sw.js`). Once the worker reports [`ferry_worker::Report::Streaming`] (the
//! head of the file verified) the page navigates a hidden iframe to `/dl/<id>`, which the
//! service worker answers with the stream. (A link with a `download` attribute would bypass
//! the service worker in Chromium.) Service workers need a secure context, so on plain
//! http from another host this path is absent and the Blob path is used.
use js_sys::{Array, Object, Promise, Reflect};
use leptos::prelude::{document, window};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlIFrameElement, MessageChannel, MessagePort, ServiceWorker};

/// Where Trunk copies the service worker; its scope is the whole origin.
const SERVICE_WORKER_URL: &str = "/sw.js";
/// How long the page waits for its service worker to become active before falling back.
const READY_TIMEOUT_MS: i32 = 5_000;

fn container() -> Option<web_sys::ServiceWorkerContainer> {
    let window = window();
    let navigator = window.navigator();
    // `navigator.serviceWorker` is undefined outside secure contexts.
    let present = Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false);
    (window.is_secure_context() && present).then(|| navigator.service_worker())
}

/// Registers the service worker (at startup, so it is active by the time a download starts).
pub fn register() {
    if let Some(container) = container() {
        // A failed registration only means downloads use the Blob path.
        let _ = container.register(SERVICE_WORKER_URL);
    }
}

/// The active service worker, if this browser can stream downloads here.
pub async fn service_worker() -> Option<ServiceWorker> {
    let ready = container()?.ready().ok()?;
    let timeout = Promise::new(&mut |resolve, _| {
        let _ = window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, READY_TIMEOUT_MS);
    });
    let winner = JsFuture::from(Promise::race(&Array::of2(&ready, &timeout)))
        .await
        .ok()?;
    winner
        .dyn_into::<web_sys::ServiceWorkerRegistration>()
        .ok()?
        .active()
}

/// One streaming download, from the click until it is saved, failed or cancelled.
pub struct StreamSave {
    sw: ServiceWorker,
    id: String,
    iframe: Option<HtmlIFrameElement>,
}

impl StreamSave {
    /// Gives the service worker one end of a new channel; the other end (returned) goes to
    /// the decrypting worker.
    pub fn new(sw: ServiceWorker) -> Result<(StreamSave, MessagePort), JsValue> {
        let channel = MessageChannel::new()?;
        let mut id = [0u8; 16];
        window()
            .crypto()?
            .get_random_values_with_u8_array(&mut id)?;
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let msg = Object::new();
        Reflect::set(&msg, &"type".into(), &"ferry-download".into())?;
        Reflect::set(&msg, &"id".into(), &id.as_str().into())?;
        let port = channel.port1();
        sw.post_message_with_transferable(&msg, &Array::of1(&port))?;
        Ok((
            StreamSave {
                sw,
                id,
                iframe: None,
            },
            channel.port2(),
        ))
    }

    /// Starts the browser's download of the stream (once).
    pub fn start(&mut self) -> Result<(), JsValue> {
        if self.iframe.is_some() {
            return Ok(());
        }
        let iframe: HtmlIFrameElement = document().create_element("iframe")?.unchecked_into();
        iframe.set_hidden(true);
        iframe.set_title(&crate::tr!("download-frame"));
        iframe.set_src(&format!("/dl/{}", self.id));
        document()
            .body()
            .ok_or_else(|| JsValue::from_str("no body"))?
            .append_child(&iframe)?;
        self.iframe = Some(iframe);
        Ok(())
    }

    /// Whether the browser's download was started (the file may be partly on disk).
    pub fn handed_over(&self) -> bool {
        self.iframe.is_some()
    }

    /// Fails the download, and the browser's download if it started (the page's Cancel
    /// button).
    pub fn cancel(&self) {
        let msg = Object::new();
        let _ = Reflect::set(&msg, &"type".into(), &"ferry-cancel".into());
        let _ = Reflect::set(&msg, &"id".into(), &self.id.as_str().into());
        let _ = self.sw.post_message(&msg);
    }
}

impl Drop for StreamSave {
    fn drop(&mut self) {
        // A download that never reached the browser's download manager (it failed, or a
        // new one replaced it): the service worker forgets it.
        if !self.handed_over() {
            self.cancel();
        }
        if let Some(iframe) = self.iframe.take() {
            iframe.remove();
        }
    }
}

/// Saves `blob` under `name` through a temporary object URL and an `<a download>`.
pub fn save_blob(blob: &web_sys::Blob, name: &str) -> Result<(), JsValue> {
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
    leptos::prelude::set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(60),
    );
    Ok(())
}
