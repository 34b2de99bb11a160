//! The worker's entry point and its two jobs.
mod archive;
mod begin;
mod crypto_pool;
mod download;
mod engine;
mod keeper;
mod lanes;
mod resume;
mod socket;
mod upload;
mod via_service_worker;

use ferry_common::Manifest;
use ferry_worker::{Command, Failure, FailureCode, Report};
use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{Blob, DedicatedWorkerGlobalScope, MessageEvent};

/// The worker's global scope.
pub fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Posts a report (and a Blob beside it) to the page.
pub fn post(report: &Report, blob: Option<&Blob>) {
    post_with(report, blob.map(|b| ("blob", b.as_ref())), false);
}

/// Posts a report with a port beside it, transferred to the page.
pub fn post_port(report: &Report, port: web_sys::MessagePort) {
    post_with(report, Some(("port", port.as_ref())), true);
}

/// Posts `report` as JSON, with what JSON cannot carry beside it (transferred, if asked).
fn post_with(report: &Report, beside: Option<(&str, &JsValue)>, transfer: bool) {
    let msg = Object::new();
    // unwrap: reports are plain structs that always serialise.
    let json = serde_json::to_string(report).expect("report serialises");
    let _ = Reflect::set(&msg, &"json".into(), &JsValue::from_str(&json));
    let Some((key, value)) = beside else {
        let _ = scope().post_message(&msg);
        return;
    };
    let _ = Reflect::set(&msg, &key.into(), value);
    let _ = match transfer {
        true => scope().post_message_with_transfer(&msg, &js_sys::Array::of1(value)),
        false => scope().post_message(&msg),
    };
}

/// Milliseconds since the epoch, for throttling progress reports.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Waits `ms` milliseconds (a timer on the worker's event loop).
pub async fn sleep_ms(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(
            &resolve,
            i32::try_from(ms).unwrap_or(i32::MAX),
        );
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Installs the message handler and tells the page the worker listens. Messages posted
/// before this point would be lost, so the page waits for [`Report::Alive`].
pub fn start() {
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|ev: MessageEvent| {
        let data = ev.data();
        // A crypto helper's chunk: handled at once, in order.
        if Reflect::has(&data, &"job".into()).unwrap_or(false) {
            crypto_pool::job(&data);
            return;
        }
        let json = Reflect::get(&data, &"json".into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        let file = Reflect::get(&data, &"file".into())
            .ok()
            .and_then(|v| v.dyn_into::<web_sys::File>().ok());
        let port = Reflect::get(&data, &"port".into())
            .ok()
            .and_then(|v| v.dyn_into::<web_sys::MessagePort>().ok());
        wasm_bindgen_futures::spawn_local(async move {
            let result = match serde_json::from_str::<Command>(&json) {
                Ok(Command::Upload {
                    passphrase,
                    expires_in_secs,
                    max_downloads,
                    aes,
                    lanes,
                    credential,
                    files,
                    dirs,
                }) => match file {
                    Some(file) => {
                        let options = upload::UploadOptions {
                            expires_in_secs,
                            max_downloads,
                            aes,
                            lanes: lanes.map_or(ferry_worker::DEFAULT_LANES, |n| {
                                usize::from(n.clamp(1, ferry_worker::MAX_LANES))
                            }),
                            credential,
                            manifest: (!files.is_empty() || !dirs.is_empty())
                                .then_some(Manifest { files, dirs }),
                        };
                        upload::run(file, passphrase, options).await
                    }
                    None => Err(Failure::new(FailureCode::Internal, "no file was given")),
                },
                Ok(Command::Download {
                    share_id,
                    header,
                    secret,
                    passphrase,
                    aes,
                }) => download::run(share_id, header, secret, passphrase, aes, port).await,
                Ok(Command::CryptoHelper { header }) => {
                    let key = Reflect::get(&data, &"key".into()).unwrap_or(JsValue::NULL);
                    crypto_pool::configure(&header, &key);
                    Ok(())
                }
                Err(_) => Err(Failure::new(
                    FailureCode::Internal,
                    "the worker got a malformed command",
                )),
            };
            if let Err(failure) = result {
                post(&Report::Failed(failure), None);
            }
        });
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(&Report::Alive, None);
}
