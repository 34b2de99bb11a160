//! The page's side of the transfer worker: start one, hand it a command, get reports.
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use ferry_worker::{
    AesChoice, Command, Failure, FailureCode, Report, WORKER_URL, save_relay::SaveRelay,
};
use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{Blob, MessageEvent, MessagePort, Worker};

/// One running worker. Dropping it (outside its own callback) stops the worker.
pub struct Transfer {
    worker: Worker,
    stopped: Rc<Cell<bool>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

/// The page's end of the channel to the service worker saving a download.
struct Relay {
    port: MessagePort,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Relay {
    /// Follows the download `handed` announced over `port`, until it ends or the transfer
    /// stops.
    fn start(
        port: MessagePort,
        handed: SaveRelay,
        stopped: Rc<Cell<bool>>,
        on_report: Rc<dyn Fn(Report, Option<Blob>)>,
    ) -> Relay {
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if stopped.get() {
                return;
            }
            let Some(json) = js_sys::JSON::stringify(&ev.data())
                .ok()
                .and_then(|s| s.as_string())
            else {
                return;
            };
            for report in handed.reports(&json) {
                if stopped.get() {
                    return;
                }
                if matches!(report, Report::Downloaded { .. } | Report::Failed(_)) {
                    stopped.set(true);
                }
                on_report(report, None);
            }
        });
        port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Relay {
            port,
            _on_message: on_message,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.port.set_onmessage(None);
        self.port.close();
    }
}

impl Transfer {
    /// Starts a worker and sends it `command` (with `file` or `port` beside it) once it
    /// listens. `port` is transferred: the worker streams a download to it. `on_report`
    /// gets every report and, with a Blob download's `Downloaded`, the file's Blob.
    pub fn start(
        command: &Command,
        file: Option<&web_sys::File>,
        port: Option<&web_sys::MessagePort>,
        on_report: impl Fn(Report, Option<Blob>) + 'static,
    ) -> Result<Transfer, Failure> {
        let worker = Worker::new(WORKER_URL).map_err(|_| {
            Failure::new(
                FailureCode::Internal,
                "this browser could not start a Web Worker",
            )
        })?;
        let message = Object::new();
        // unwrap: commands are plain structs that always serialise.
        let json = serde_json::to_string(command).expect("command serialises");
        let _ = Reflect::set(&message, &"json".into(), &JsValue::from_str(&json));
        if let Some(file) = file {
            let _ = Reflect::set(&message, &"file".into(), file);
        }
        let transfer = js_sys::Array::new();
        if let Some(port) = port {
            let _ = Reflect::set(&message, &"port".into(), port);
            transfer.push(port);
        }
        let on_report: Rc<dyn Fn(Report, Option<Blob>)> = Rc::new(on_report);
        let stopped = Rc::new(Cell::new(false));
        let on_message = {
            let worker = worker.clone();
            let on_report = on_report.clone();
            let stopped = stopped.clone();
            // A streaming download the worker handed over: the service worker's reports,
            // followed for as long as this closure (the transfer) lives.
            let relay = RefCell::new(None);
            let mut pending = Some(message);
            Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                // Reports already queued when the person cancelled are ignored.
                if stopped.get() {
                    return;
                }
                let data = ev.data();
                let Some(json) = Reflect::get(&data, &"json".into())
                    .ok()
                    .and_then(|v| v.as_string())
                else {
                    return;
                };
                let Ok(report) = serde_json::from_str::<Report>(&json) else {
                    return;
                };
                if let Report::Alive = report {
                    if let Some(message) = pending.take() {
                        let _ = worker.post_message_with_transfer(&message, &transfer);
                    }
                    return;
                }
                if let Report::HandedOver { name, size } = report {
                    // The service worker saves the file; its reports come to the page now.
                    // The worker is done: stopping it frees its memory (Argon2id's 64 MiB).
                    worker.terminate();
                    let port = Reflect::get(&data, &"port".into())
                        .ok()
                        .and_then(|v| v.dyn_into::<MessagePort>().ok());
                    let Some(port) = port else {
                        stopped.set(true);
                        on_report(Report::Failed(lost_port()), None);
                        return;
                    };
                    let handed = SaveRelay::new(name, size);
                    let follow = Relay::start(port, handed, stopped.clone(), on_report.clone());
                    *relay.borrow_mut() = Some(follow);
                    return;
                }
                let blob = Reflect::get(&data, &"blob".into())
                    .ok()
                    .and_then(|v| v.dyn_into::<Blob>().ok());
                let finished = matches!(
                    report,
                    Report::Uploaded { .. } | Report::Downloaded { .. } | Report::Failed(_)
                );
                on_report(report, blob);
                if finished {
                    // Frees the worker's memory (Argon2id grew it by 64 MiB).
                    stopped.set(true);
                    worker.terminate();
                }
            })
        };
        let on_error = {
            let worker = worker.clone();
            let stopped = stopped.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
                let detail = Reflect::get(&ev, &"message".into())
                    .ok()
                    .and_then(|m| m.as_string())
                    .unwrap_or_default();
                leptos::logging::warn!("transfer worker error: {detail}");
                if stopped.replace(true) {
                    return;
                }
                worker.terminate();
                on_report(
                    Report::Failed(Failure::new(
                        FailureCode::Internal,
                        "the encryption worker stopped unexpectedly; reload the page and try again",
                    )),
                    None,
                );
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Transfer {
            worker,
            stopped,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    /// Stops the worker at once (cancel): its socket closes and the server discards an
    /// unfinished upload or leaves an unfinished download unconsumed.
    pub fn stop(&self) {
        self.stopped.set(true);
        self.worker.terminate();
        // The relay, if any, ignores the service worker from now on (it may be running
        // this very call: it is dropped with the transfer).
    }
}

fn lost_port() -> Failure {
    Failure::new(
        FailureCode::Internal,
        "the download's channel to the service worker was lost; reload the page and try again",
    )
}

impl Drop for Transfer {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}

/// The AES-GCM engine the page's address asks for (for tests and comparisons):
/// `?aes=wasm` forces the `aes-gcm` wasm code (on helper workers where there are cores for
/// them), `?aes=wasm-single` the wasm code on the transfer worker's own thread; otherwise
/// WebCrypto is used wherever it exists.
pub fn aes_choice() -> AesChoice {
    let search = leptos::prelude::window()
        .location()
        .search()
        .unwrap_or_default();
    if search.contains("aes=wasm-single") {
        AesChoice::WasmSingle
    } else if search.contains("aes=wasm") {
        AesChoice::Wasm
    } else {
        AesChoice::Auto
    }
}

/// The number of upload sockets the page's address asks for (`?lanes=N`, for tests and
/// comparisons); `None` leaves the worker's default.
pub fn lanes_choice() -> Option<u8> {
    let search = leptos::prelude::window()
        .location()
        .search()
        .unwrap_or_default();
    let value = search
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("lanes="))?;
    value.parse().ok()
}
