//! The WebSocket ceiling in a browser, for `scripts/bench-browser-socket.sh`: how fast
//! Chromium alone can move bytes over loopback WebSockets when the far end does nothing.
//!
//! A control for the browser benchmark, not part of Ferry: a sink that counts what it
//! receives and a source that sends from one shared buffer, both with no disk, no
//! protocol and no acknowledgements, plus a page whose worker (`CEILING_JS`) drives one or
//! several sockets at once. Whatever a Ferry transfer adds (the protocol, the store,
//! fsync, crypto, the save) can only make a transfer slower than this. Beside them, the
//! same bytes downloaded over plain HTTP (`fetch` and its body stream, 1, 2 or 4 at
//! once), to weigh a download over HTTP against one over WebSockets. And the ceiling of
//! saving: a service worker (`SAVE_SW`) that answers a download with bytes it makes itself
//! (no network) or with `/bytes` fetched and passed through (no crypto), so what the
//! browser's download manager alone takes can be set beside Ferry's downloads.
//!
//! ```text
//! cargo run --release -p ferry-backend --example ws_ceiling -- PORT
//! ```
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, rt, web};
use actix_ws::AggregatedMessage;
use bytes::Bytes;
use futures_util::StreamExt;

/// Bytes per binary frame, as Ferry's 256 KiB chunks sealed.
const FRAME: usize = 256 * 1024 + 16;

const PAGE: &str = r#"<!DOCTYPE html><meta charset="utf-8"><title>ws ceiling</title>
<script src="/page.js"></script>"#;

/// Starts the worker and exposes its log lines to the driver as `window.__logs`.
const PAGE_JS: &str = r#"
window.__logs = []; window.__done = false;
const w = new Worker('/ceiling.js');
w.onmessage = (e) => { if (e.data === 'done') window.__done = true; else window.__logs.push(e.data); };
w.onerror = (e) => { window.__logs.push('worker error: ' + e.message); window.__done = true; };
w.postMessage(Number(new URLSearchParams(location.search).get('mib') || 1024));
"#;

/// Upload: each socket sends its share of the bytes in FRAME-sized frames, keeping at most
/// 16 MiB queued in the socket (`bufferedAmount`), then "end"; the sink answers with the
/// byte count once it has everything. Download: the source sends the requested bytes and
/// "end". MB/s = 10^6 bytes/s over all sockets, from the first send to the last answer.
const CEILING_JS: &str = r#"
const FRAME = 256 * 1024 + 16;
const frame = new Uint8Array(FRAME);
for (let o = 0; o < FRAME; o += 65536) crypto.getRandomValues(frame.subarray(o, Math.min(FRAME, o + 65536)));
const open = (path) => new Promise((res, rej) => {
  const ws = new WebSocket(`ws://${location.host}${path}`);
  ws.binaryType = 'arraybuffer'; ws.onopen = () => res(ws); ws.onerror = () => rej(new Error('socket failed'));
});
const pause = () => new Promise((r) => setTimeout(r, 0));
async function upload(ws, frames) {
  const answer = new Promise((r) => { ws.onmessage = (e) => r(Number(e.data)); });
  for (let i = 0; i < frames; i++) {
    while (ws.bufferedAmount > 16 * 1024 * 1024) await pause();
    ws.send(frame);
  }
  ws.send('end');
  const got = await answer; ws.close(); return got;
}
async function download(ws, frames) {
  let got = 0;
  await new Promise((r) => { ws.onmessage = (e) => { if (typeof e.data === 'string') r(); else got += e.data.byteLength; }; ws.send(String(frames)); });
  ws.close(); return got;
}
async function fetched(frames) {
  const res = await fetch(`/bytes?frames=${frames}`);
  const reader = res.body.getReader();
  let got = 0;
  for (;;) { const { done, value } = await reader.read(); if (done) return got; got += value.byteLength; }
}
async function runFetch(fetches, total) {
  const frames = Math.floor(total / FRAME / fetches);
  const t0 = performance.now();
  const got = await Promise.all(Array.from({ length: fetches }, () => fetched(frames)));
  const s = (performance.now() - t0) / 1000;
  const bytes = got.reduce((a, b) => a + b, 0);
  if (bytes !== frames * FRAME * fetches) throw new Error(`fetch: ${bytes} of ${frames * FRAME * fetches} bytes`);
  postMessage(`download over HTTP, ${fetches} fetch(es): ${Math.round(bytes / s / 1e6)} MB/s (${(bytes / 1048576).toFixed(0)} MiB in ${s.toFixed(2)} s)`);
}
async function run(kind, sockets, total) {
  const frames = Math.floor(total / FRAME / sockets);
  const wss = await Promise.all(Array.from({ length: sockets }, () => open(kind === 'upload' ? '/sink' : '/source')));
  const t0 = performance.now();
  const got = await Promise.all(wss.map((ws) => (kind === 'upload' ? upload(ws, frames) : download(ws, frames))));
  const s = (performance.now() - t0) / 1000;
  const bytes = got.reduce((a, b) => a + b, 0);
  if (bytes !== frames * FRAME * sockets) throw new Error(`${kind}: ${bytes} of ${frames * FRAME * sockets} bytes`);
  postMessage(`${kind}, ${sockets} socket(s): ${Math.round(bytes / s / 1e6)} MB/s (${(bytes / 1048576).toFixed(0)} MiB in ${s.toFixed(2)} s)`);
}
onmessage = async (e) => {
  const total = e.data * 1048576;
  try {
    for (const kind of ['upload', 'download']) for (const n of [1, 2, 4]) await run(kind, n, total);
    for (const n of [1, 2, 4]) await runFetch(n, total);
  } catch (err) { postMessage(String(err)); }
  postMessage('done');
};
"#;

/// The save page: registers `SAVE_SW`, says when it controls the page, and offers
/// `__save(kind, mib)`, which starts a download through it from a hidden iframe.
const SAVE_PAGE: &str = r#"<!DOCTYPE html><meta charset="utf-8"><title>save ceiling</title>
<script src="/save.js"></script>"#;

const SAVE_JS: &str = r#"
window.__ready = false;
navigator.serviceWorker.register('/save-sw.js').then(() => navigator.serviceWorker.ready).then(() => {
  if (navigator.serviceWorker.controller) window.__ready = true;
  else navigator.serviceWorker.addEventListener('controllerchange', () => { window.__ready = true; });
});
window.__save = (kind, mib) => {
  const f = document.createElement('iframe');
  f.hidden = true;
  f.src = `/save/${kind}?mib=${mib}&n=${Math.random()}`;
  document.body.appendChild(f);
};
"#;

/// `generated`: `mib` MiB in fresh 256 KiB buffers made here, queued 4 MiB ahead (as
/// Ferry's service worker queues). `fetched`: `/bytes` passed through as it arrives.
const SAVE_SW: &str = r#"
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
const FRAME = 256 * 1024 + 16;
self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (!url.pathname.startsWith('/save/')) return;
  const mib = Number(url.searchParams.get('mib'));
  const headers = (length) => ({
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': 'attachment; filename="ceiling.bin"',
    'Content-Length': String(length),
  });
  if (url.pathname === '/save/generated') {
    let left = mib * 1048576;
    const stream = new ReadableStream({
      pull(c) {
        const n = Math.min(256 * 1024, left);
        c.enqueue(new Uint8Array(n));
        left -= n;
        if (left === 0) c.close();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: 4 << 20 }));
    e.respondWith(new Response(stream, { headers: headers(mib * 1048576) }));
  } else {
    const frames = Math.floor((mib * 1048576) / FRAME);
    e.respondWith(fetch(`/bytes?frames=${frames}`).then((r) => new Response(r.body, { headers: headers(frames * FRAME) })));
  }
});
"#;

fn text(body: &'static str, kind: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(kind).body(body)
}

/// Counts binary bytes; answers "end" with the count.
async fn sink(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, mut session, stream) = actix_ws::handle(&req, body)?;
    let mut stream = stream.max_frame_size(FRAME).aggregate_continuations();
    rt::spawn(async move {
        let mut got = 0u64;
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                AggregatedMessage::Binary(b) => got += b.len() as u64,
                AggregatedMessage::Text(_) => {
                    let _ = session.text(got.to_string()).await;
                }
                AggregatedMessage::Close(_) => break,
                _ => {}
            }
        }
    });
    Ok(response)
}

/// `?frames=N` for [`bytes`].
#[derive(serde::Deserialize)]
struct Frames {
    frames: u64,
}

/// Answers `GET /bytes?frames=N` with N frames of bytes as one streamed body (one shared
/// buffer, never copied).
async fn bytes(query: web::Query<Frames>) -> HttpResponse {
    let frame = Bytes::from(vec![0x5a; FRAME]);
    let body = futures_util::stream::iter(
        (0..query.frames).map(move |_| Ok::<_, std::io::Error>(frame.clone())),
    );
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .streaming(body)
}

/// Sends the number of frames asked for (one shared buffer, never copied), then "end".
async fn source(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, mut session, stream) = actix_ws::handle(&req, body)?;
    let mut stream = stream.aggregate_continuations();
    rt::spawn(async move {
        let frame = Bytes::from(vec![0x5a; FRAME]);
        while let Some(Ok(msg)) = stream.next().await {
            if let AggregatedMessage::Text(t) = msg {
                let frames: u64 = t.parse().unwrap_or(0);
                for _ in 0..frames {
                    if session.binary(frame.clone()).await.is_err() {
                        return;
                    }
                }
                let _ = session.text("end").await;
            }
        }
    });
    Ok(response)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(18500);
    HttpServer::new(|| {
        App::new()
            .route("/", web::get().to(|| async { text(PAGE, "text/html") }))
            .route(
                "/page.js",
                web::get().to(|| async { text(PAGE_JS, "text/javascript") }),
            )
            .route(
                "/ceiling.js",
                web::get().to(|| async { text(CEILING_JS, "text/javascript") }),
            )
            .route(
                "/save-page",
                web::get().to(|| async { text(SAVE_PAGE, "text/html") }),
            )
            .route(
                "/save.js",
                web::get().to(|| async { text(SAVE_JS, "text/javascript") }),
            )
            .route(
                "/save-sw.js",
                web::get().to(|| async { text(SAVE_SW, "text/javascript") }),
            )
            .route("/sink", web::get().to(sink))
            .route("/source", web::get().to(source))
            .route("/bytes", web::get().to(bytes))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
