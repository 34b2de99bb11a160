//! A streaming download: this worker derives the keys, claims the download over HTTP and
//! opens the metadata; the page's service worker (`sw.js`) then fetches the ciphertext,
//! opens it and streams it to disk, each chunk handled once, there. Once the service worker
//! has the download's source, this worker hands the page its end of the channel
//! (`ferry_worker::save_relay`) and is done.
use ferry_common::{
    Header, Keys, b64,
    client::{ClientError, Download, DownloadAction, Ready, ShareId},
    protocol::{ErrorBody, SHARES_PATH},
};
use ferry_worker::{Failure, FailureCode, Phase, Report, reconnect, save_relay::ENGINE};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessagePort, RequestInit, Response};

use super::{archive::Archive, download::open_metadata, engine, post, post_port};

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
    let opened = open_metadata(&ready, keys, header)?;
    post(&opened.report(), None);
    let (name, size) = (opened.name.clone(), opened.size);
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
    let source = Source {
        share_id: share_id.as_str(),
        claim: &claim,
        header,
        ready: &ready,
        name: &name,
        size,
        archive: opened.archive.as_ref(),
    };
    hand_over(&port, &source, &key)?;
    phase(Phase::Transferring);
    // The page follows the rest; this worker stops (and frees its memory).
    post_port(&Report::HandedOver { name, size }, port);
    Ok(())
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
    session.handle_text(&text).map_err(Failure::from)?;
    // For a one-chunk share the core first asks to acknowledge no chunks (the socket's
    // request for the final chunk); over HTTP, asking for that chunk is the request.
    for _ in 0..2 {
        match session.poll() {
            DownloadAction::Ready(ready) => return Ok(ready),
            DownloadAction::Failed(e) => return Err(Failure::from(e)),
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
        Ok(body) => Failure::from(ClientError::from(body)),
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
    let unreachable = |_| Failure::lost();
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
    archive: Option<&'a Archive>,
}

/// Sends the service worker the download's source.
fn hand_over(port: &MessagePort, s: &Source<'_>, key: &web_sys::CryptoKey) -> Result<(), Failure> {
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
    if let Some(archive) = s.archive {
        set("zip", &archive.to_js());
        set("zipSize", &(archive.len as f64).into());
    }
    let pauses: js_sys::Array = reconnect::pauses().map(JsValue::from).collect();
    set("pauses", &pauses);
    port.post_message(&m).map_err(|_| {
        Failure::new(
            FailureCode::Internal,
            "the browser's service worker could not take the download",
        )
    })
}
