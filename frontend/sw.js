// Ferry's service worker: saves a decrypted download as it streams, so a multi-GB file never
// sits whole in memory (the approach Firefox Send took).
//
// The receive page hands this worker a MessagePort whose other end is the page's decrypting
// Web Worker, then navigates a hidden iframe to /dl/<id>. This worker answers that request
// with a ReadableStream. The decrypting worker may send CREDIT chunks at once when the stream
// starts, and one more each time the stream has room ("pull"), so chunks keep flowing while
// a pull travels, and backpressure still reaches the server (which is acknowledged only as
// fast as the disk takes the data). The decrypting worker sends "end" only after the final
// chunk verified; "error" (or a stall) errors the stream, so the browser marks the download
// failed instead of keeping a truncated file as complete. No crypto and nothing secret here:
// only plaintext the page's own worker decrypted, and it never leaves the browser.
'use strict';

/** Downloads announced by the page and not yet requested: id -> { name, size, port }. */
const announced = new Map();
/** Requests that arrived before their announcement: id -> resolve. */
const early = new Map();
/** Running streams: id -> fail(message), for a cancel from the page. */
const running = new Map();

/** Chunks (256 KiB by default) the stream buffers ahead of the download manager. */
const HIGH_WATER_MARK = 8;
/** Chunks the decrypting worker may send before the first pull: one round trip per chunk
 * (a pull, then its chunk) would cap the download at a chunk per round trip. */
const CREDIT = 8;
/** How long a pull may go unanswered before the download is failed (the page closed, say). */
const STALL_MS = 120_000;
/** How long a request waits for its announcement (they race by a few milliseconds). */
const ANNOUNCE_MS = 10_000;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const msg = event.data;
  if (!msg || typeof msg.id !== 'string') return;
  if (msg.type === 'ferry-download' && event.ports.length === 1) {
    announced.set(msg.id, { name: String(msg.name), size: Number(msg.size), port: event.ports[0] });
    const wake = early.get(msg.id);
    if (wake) {
      early.delete(msg.id);
      wake();
    }
  } else if (msg.type === 'ferry-cancel') {
    const fail = running.get(msg.id);
    if (fail) fail('the download was cancelled');
    const entry = announced.get(msg.id);
    if (entry) {
      announced.delete(msg.id);
      entry.port.close();
    }
  }
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith('/dl/')) return;
  const id = url.pathname.slice('/dl/'.length);
  event.respondWith(respond(id));
});

async function respond(id) {
  if (!announced.has(id)) {
    await new Promise((resolve) => {
      early.set(id, resolve);
      setTimeout(resolve, ANNOUNCE_MS);
    });
    early.delete(id);
  }
  const entry = announced.get(id);
  announced.delete(id);
  if (!entry) {
    return new Response('This download is no longer available; start it again from its page.', {
      status: 404,
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    });
  }
  const headers = {
    'Content-Type': 'application/octet-stream',
    // RFC 6266 / 5987: the name exactly, whatever its characters (the browser sanitises it).
    'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(entry.name)}`,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  };
  // With the length announced, a stream that ends short is also a failed download.
  if (Number.isSafeInteger(entry.size) && entry.size >= 0) headers['Content-Length'] = String(entry.size);
  return new Response(stream(id, entry.port), { headers });
}

function stream(id, port) {
  let controller;
  let answer = null; // resolves the pending pull
  let stall = null;
  let finished = false;
  const settle = () => {
    clearTimeout(stall);
    stall = null;
    if (answer) {
      const a = answer;
      answer = null;
      a();
    }
  };
  const end = () => {
    finished = true;
    running.delete(id);
    settle();
    port.onmessage = null;
    port.close();
  };
  const fail = (message) => {
    if (finished) return;
    try {
      controller.error(new Error(message));
    } catch (e) {}
    try {
      port.postMessage({ type: 'cancel' });
    } catch (e) {}
    end();
  };
  running.set(id, fail);
  return new ReadableStream(
    {
      start(c) {
        controller = c;
        port.onmessage = ({ data }) => {
          if (finished || !data) return;
          if (data.type === 'chunk') {
            controller.enqueue(new Uint8Array(data.chunk, 0, data.length));
            settle();
          } else if (data.type === 'end') {
            controller.close();
            port.postMessage({ type: 'closed' });
            end();
          } else if (data.type === 'error') {
            finished = true;
            controller.error(new Error(String(data.message)));
            end();
          }
        };
        port.postMessage({ type: 'started', credit: CREDIT });
      },
      pull() {
        if (finished) return undefined;
        port.postMessage({ type: 'pull' });
        return new Promise((resolve) => {
          answer = resolve;
          stall = setTimeout(() => fail('the page that was decrypting this download stopped'), STALL_MS);
        });
      },
      cancel() {
        // The person cancelled in the browser's download manager.
        if (finished) return;
        port.postMessage({ type: 'cancel' });
        end();
      },
    },
    new CountQueuingStrategy({ highWaterMark: HIGH_WATER_MARK }),
  );
}
