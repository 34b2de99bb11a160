//! A streaming download: this worker derives the keys, claims the download over HTTP and
//! opens the metadata; the page's service worker (`sw.js`) then fetches the ciphertext,
//! opens it and streams it to disk. Each chunk is handled once, in the service worker,
//! instead of crossing from here to it; this worker only relays what the service worker
//! reports (verified head, progress, reconnects, end, failure) to the page, typed.
use ferry_common::{
    Header, Keys, b64,
    client::{ClientError, Download, DownloadAction, Ready, ShareId},
    protocol::{ErrorBody, SHARES_PATH},
};
use ferry_worker::{Failure, FailureCode, Phase, Report, reconnect};
use futures_channel::mpsc::{UnboundedReceiver, unbounded};
use futures_util::StreamExt;
use js_sys::{Object, Reflect, Uint8Array};
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, MessagePort, RequestInit, Response};

use super::{download::open_metadata, engine, post, upload::client_failure};

/// The engine the page shows for this path (in the service worker).
const ENGINE: &str = "webcrypto";

/// Runs the download through the service worker at the other end of `port`.
pub async fn run(
    port: MessagePort,
    share_id: &ShareId,
    mut session: Download,
    keys: &Keys,
    header: &Header,
) -> Result<(), Failure> {
    phase(Phase::Connecting);
    let ready = claim(share_id, &mut session).await?;
    let (name, size) = open_metadata(&ready, keys, header)?;
    post(
        &Report::Metadata {
            name: name.clone(),
            size,
        },
        None,
    );
    let key = engine::web_key(&keys.payload).await.ok_or_else(|| {
        Failure::new(
            FailureCode::Internal,
            "this browser cannot decrypt in its service worker",
        )
    })?;
    let claim = session
        .claim_token()
        .map(b64::encode)
        .ok_or_else(|| Failure::new(FailureCode::Internal, "the server's claim had no token"))?;
    let mut sw = Relay::new(port);
    let source = Source {
        share_id: share_id.as_str(),
        claim: &claim,
        header,
        ready: &ready,
        name: &name,
        size,
    };
    sw.hand_over(&source, &key)?;
    phase(Phase::Transferring);
    relay(&mut sw, name, size).await
}

fn phase(phase: Phase) {
    post(
        &Report::Phase {
            phase,
            engine: Some(ENGINE.into()),
        },
        None,
    );
}

/// Relays the service worker's reports until the download ends.
async fn relay(sw: &mut Relay, name: String, size: u64) -> Result<(), Failure> {
    // Bounded: the service worker ends every download with `end` or `failed`, and a port
    // that closes without either ends it too.
    loop {
        match sw.next().await {
            FromServiceWorker::Verified => post(
                &Report::Streaming {
                    name: name.clone(),
                    size,
                },
                None,
            ),
            FromServiceWorker::Progress { done } => {
                post(&Report::Progress { done, total: size }, None);
                if done == size {
                    phase(Phase::Finishing);
                }
            }
            FromServiceWorker::Reconnecting { attempt } => {
                phase(Phase::Reconnecting { attempt });
            }
            FromServiceWorker::End { downloads_left } => {
                post(
                    &Report::Downloaded {
                        name,
                        downloads_left,
                    },
                    None,
                );
                return Ok(());
            }
            FromServiceWorker::Failed(why) => return Err(why.into()),
        }
    }
}

/// Claims the download with `POST /api/shares/{id}/claims`: the client core writes the
/// `start` and reads the `ready`.
async fn claim(share_id: &ShareId, session: &mut Download) -> Result<Ready, Failure> {
    let DownloadAction::Send(start) = session.poll() else {
        return Err(Failure::new(
            FailureCode::Internal,
            "the download did not start",
        ));
    };
    let url = format!("{SHARES_PATH}/{}/claims", share_id.as_str());
    let (ok, text) = request(&url, "POST", Some(&start), None).await?;
    if !ok {
        return Err(refusal(&text));
    }
    session.handle_text(&text).map_err(client_failure)?;
    // For a one-chunk share the core first asks to acknowledge no chunks (the socket's
    // request for the final chunk); over HTTP, asking for that chunk is the request.
    for _ in 0..2 {
        match session.poll() {
            DownloadAction::Ready(ready) => return Ok(ready),
            DownloadAction::Failed(e) => return Err(client_failure(e)),
            DownloadAction::Send(_) => {}
            _ => break,
        }
    }
    Err(Failure::new(
        FailureCode::Internal,
        "the server answered out of turn",
    ))
}

/// A non-2xx answer's `ErrorBody`, as the failure the page shows.
fn refusal(text: &str) -> Failure {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => client_failure(ClientError::from(body)),
        Err(_) => Failure::new(FailureCode::Internal, "the server failed; try again later"),
    }
}

/// One HTTP request from this worker: whether it succeeded, and the answer's text.
async fn request(
    url: &str,
    method: &str,
    json: Option<&str>,
    bearer: Option<&str>,
) -> Result<(bool, String), Failure> {
    let unreachable = |_| super::socket::lost();
    let init = RequestInit::new();
    init.set_method(method);
    init.set_cache(web_sys::RequestCache::NoStore);
    let headers = web_sys::Headers::new().map_err(unreachable)?;
    if let Some(json) = json {
        headers
            .set("Content-Type", "application/json")
            .map_err(unreachable)?;
        init.set_body(&JsValue::from_str(json));
    }
    if let Some(token) = bearer {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(unreachable)?;
    }
    init.set_headers(&headers);
    let response: Response = JsFuture::from(super::scope().fetch_with_str_and_init(url, &init))
        .await
        .map_err(unreachable)?
        .unchecked_into();
    let text = JsFuture::from(response.text().map_err(unreachable)?)
        .await
        .map_err(unreachable)?
        .as_string()
        .unwrap_or_default();
    Ok((response.ok(), text))
}

/// What the service worker needs to fetch, open and save the file.
struct Source<'a> {
    share_id: &'a str,
    claim: &'a str,
    header: &'a Header,
    ready: &'a Ready,
    name: &'a str,
    size: u64,
}

/// What the service worker reports (`sw.js`).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum FromServiceWorker {
    /// The head of the file (or all of it) opened: the page may start the browser's
    /// download.
    Verified,
    /// Plaintext bytes opened and queued so far.
    Progress { done: u64 },
    /// A cut response is being retried.
    Reconnecting { attempt: u32 },
    /// Every chunk opened, the final one as the final one; the stream closed.
    End {
        #[serde(rename = "downloadsLeft")]
        downloads_left: Option<u32>,
    },
    /// The download failed; the stream was errored.
    Failed(Why),
}

/// Why the service worker failed a download.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Why {
    /// The server refused a request.
    Refused { body: ErrorBody },
    /// The connection was lost more times in a row than it retries.
    Lost,
    /// A chunk did not open: the ciphertext was altered in storage.
    Corrupted,
    /// The person or the page cancelled it.
    Cancelled,
    /// Anything else.
    Internal { message: String },
}

impl From<Why> for Failure {
    fn from(why: Why) -> Failure {
        match why {
            Why::Refused { body } => client_failure(ClientError::from(body)),
            Why::Lost => super::socket::lost(),
            Why::Corrupted => super::engine::failure(ferry_common::Error::Corrupted),
            Why::Cancelled => Failure::new(
                FailureCode::Cancelled,
                "the download was cancelled; any partial file is incomplete",
            ),
            Why::Internal { message } => Failure::new(FailureCode::Internal, message),
        }
    }
}

/// This worker's end of the channel to the service worker.
struct Relay {
    port: MessagePort,
    rx: UnboundedReceiver<FromServiceWorker>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Relay {
    fn new(port: MessagePort) -> Relay {
        let (tx, rx) = unbounded();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let parsed = js_sys::JSON::stringify(&ev.data())
                .ok()
                .and_then(|s| s.as_string())
                .and_then(|s| serde_json::from_str::<FromServiceWorker>(&s).ok());
            if let Some(message) = parsed {
                let _ = tx.unbounded_send(message);
            }
        });
        port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Relay {
            port,
            rx,
            _on_message: on_message,
        }
    }

    /// Sends the service worker the download's source.
    fn hand_over(&self, s: &Source<'_>, key: &web_sys::CryptoKey) -> Result<(), Failure> {
        let m = Object::new();
        let set = |k: &str, v: &JsValue| {
            let _ = Reflect::set(&m, &k.into(), v);
        };
        set("type", &"source".into());
        set("shareId", &s.share_id.into());
        set("claim", &s.claim.into());
        set("key", key);
        set("header", &Uint8Array::from(&s.header.to_bytes()[..]));
        set("chunks", &(s.ready.chunks as f64).into());
        set("sealed", &(f64::from(s.header.chunk_size) + 16.0).into());
        set("ciphertextSize", &(s.ready.ciphertext_size as f64).into());
        set("name", &s.name.into());
        set("size", &(s.size as f64).into());
        let pauses: js_sys::Array = reconnect::pauses().map(JsValue::from).collect();
        set("pauses", &pauses);
        self.port.post_message(&m).map_err(|_| {
            Failure::new(
                FailureCode::Internal,
                "the browser's service worker could not take the download",
            )
        })
    }

    /// The service worker's next report; a closed channel is a cancelled download.
    async fn next(&mut self) -> FromServiceWorker {
        self.rx
            .next()
            .await
            .unwrap_or(FromServiceWorker::Failed(Why::Cancelled))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.port.set_onmessage(None);
    }
}
