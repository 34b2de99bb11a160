// Ferry's service worker: fetches a download's ciphertext over HTTP, opens it chunk by
// chunk and streams the plaintext into the browser's download manager, so a multi-GB file
// never sits whole in memory and each chunk is handled once, here (the approach Firefox
// Send took).
//
// The receive page makes a MessageChannel, hands this worker one port (`ferry-download`),
// and the other to its decrypting Web Worker. That worker derives the keys, claims the
// download (docs/PROTOCOL.md, "Download over HTTP"), opens the file's metadata and sends
// here the download's `source`: the claim token, the payload key as a non-extractable
// CryptoKey, the header, the chunk layout, the name and size. This worker then reads
// `GET /api/shares/{id}/chunks` (resuming a cut response from the next whole chunk),
// opens each chunk (docs/FORMAT.md §5: AES-256-GCM, nonce = index as 11 bytes big-endian
// and the last-chunk flag, the header as associated data), and queues the plaintext in a
// ReadableStream that pulls only as fast as the download manager writes. It says
// `verified` once the first VERIFY_BYTES (or the whole file) opened; only then does the
// page navigate a hidden iframe to /dl/<id>, answered with the stream, so a small file
// that fails verification never reaches the download manager at all. The final chunk is
// asked for only after every other one opened; once it opened as the final one the stream
// closes and the download is counted (`claims/done`). Any failure errors the stream, so the
// browser marks the download failed instead of keeping a truncated file as complete, and
// is reported to the decrypting worker, which tells the page.
//
// A share of several files arrives with a `zip` layout (ferry_common::zip, laid out by the
// decrypting worker from the share's manifest): bytes to write as they are, each file's
// plaintext, and where each file's CRC-32 goes. `ZipOut` only passes the plaintext through
// and fills in the CRCs, so the browser saves one ZIP, of a length known at once.
//
// The key never leaves the browser and is never extractable; nothing here is logged.
'use strict';

/** Downloads announced by the page: id -> Download. */
const downloads = new Map();

/** Plaintext opened before the browser's download starts, and queued ahead of the
 * download manager after. */
const VERIFY_BYTES = 4 << 20;
/** Chunks being opened by WebCrypto at once, so opening overlaps the network. */
const IN_FLIGHT = 4;
/** How long a request waits for its download to be verified. */
const VERIFY_WAIT_MS = 120_000;
/** Progress reports at most this often. */
const PROGRESS_MS = 100;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const msg = event.data;
  if (!msg || typeof msg.id !== 'string') return;
  if (msg.type === 'ferry-download' && event.ports.length === 1) {
    const download = new Download(msg.id, event.ports[0]);
    downloads.set(msg.id, download);
    // Alive until the browser's request took the stream, or the download ended.
    event.waitUntil(download.handedOver);
  } else if (msg.type === 'ferry-cancel') {
    downloads.get(msg.id)?.fail({ kind: 'cancelled' });
  }
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith('/dl/')) return;
  event.respondWith(respond(url.pathname.slice('/dl/'.length)));
});

/** A refusal from the server: the status and its ErrorBody. */
class Refused extends Error {
  constructor(status, body) {
    super(body.message);
    this.status = status;
    this.body = body;
  }
}

/** A cut response or a network failure: worth another try. */
class Cut extends Error {}

/** One download, from its `source` to its end. */
class Download {
  constructor(id, port) {
    this.id = id;
    this.port = port;
    this.finished = false;
    this.abort = new AbortController();
    this.verified = new Promise((resolve) => (this.onVerified = resolve));
    this.handedOver = new Promise((resolve) => (this.onHandedOver = resolve));
    this.wake = null; // resolves a wait for room in the stream
    port.onmessage = ({ data }) => {
      if (data && data.type === 'source' && !this.source) this.start(data);
      else if (data && data.type === 'cancel') this.fail({ kind: 'cancelled' });
    };
  }

  start(source) {
    this.source = source;
    this.zip = source.zip ? new ZipOut(source.zip) : null;
    this.stream = new ReadableStream(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => this.room(),
        cancel: () => this.fail({ kind: 'cancelled' }),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: VERIFY_BYTES }),
    );
    this.run().catch((error) => this.fail(describe(error)));
  }

  /** Wakes the producer: the stream has room. */
  room() {
    const wake = this.wake;
    this.wake = null;
    if (wake) wake();
  }

  /** Waits until the stream has room for another chunk. */
  async waitForRoom() {
    if (this.controller.desiredSize <= 0) this.verifiedHead();
    while (!this.finished && this.controller.desiredSize <= 0) {
      await new Promise((resolve) => (this.wake = resolve));
    }
    if (this.finished) throw new Error('finished');
  }

  /** The head of the file opened: the browser's download may start. */
  verifiedHead() {
    if (this.saidVerified) return;
    this.saidVerified = true;
    this.onVerified(true);
    this.port.postMessage({ type: 'verified' });
  }

  async run() {
    const s = this.source;
    this.next = 0; // chunks opened and queued
    this.done = 0; // their plaintext bytes
    this.lastReport = 0;
    let inARow = 0; // tries in a row without progress
    // Every chunk but the final one, then the final one alone (asking for it acknowledges
    // the rest). Bounded: every turn makes progress, ends the download, or counts a try,
    // at most `pauses.length` in a row (the decrypting worker's schedule).
    while (this.next < s.chunks) {
      const before = this.next;
      const end = this.next === s.chunks - 1 ? s.chunks : s.chunks - 1;
      try {
        await this.receive(this.next, end);
      } catch (error) {
        if (!(error instanceof Cut)) throw error;
        inARow = this.next > before ? 1 : inARow + 1;
        if (inARow > s.pauses.length) throw error;
        this.port.postMessage({ type: 'reconnecting', attempt: inARow });
        await sleep(s.pauses[inARow - 1]);
      }
    }
    if (this.done !== s.size) throw new Error('corrupted');
    if (this.zip) for (const piece of this.zip.finish()) this.controller.enqueue(piece);
    this.verifiedHead();
    this.finished = true;
    this.controller.close();
    this.port.postMessage({ type: 'progress', done: this.done });
    this.port.postMessage({ type: 'end', downloadsLeft: await this.count() });
    this.close();
  }

  /** One response: chunks `from` up to `end`, each opened and queued in order. */
  async receive(from, end) {
    const s = this.source;
    const response = await this.request(`chunks?from=${from}`, { method: 'GET' });
    const reader = response.body.getReader();
    const opening = []; // promises of plaintext, in order
    let index = from;
    let sealed = null;
    let filled = 0;
    try {
      // Bounded by the response's length: every read takes bytes or ends.
      for (;;) {
        let piece;
        try {
          piece = await reader.read();
        } catch (e) {
          throw new Cut('the connection was cut');
        }
        if (piece.done) break;
        const bytes = piece.value;
        for (let at = 0; at < bytes.length && index < end; ) {
          const want = sealedLength(s, index);
          let chunk = null;
          if (filled === 0 && bytes.length - at >= want) {
            chunk = bytes.subarray(at, at + want);
            at += want;
          } else {
            sealed ??= new Uint8Array(want);
            const n = Math.min(want - filled, bytes.length - at);
            sealed.set(bytes.subarray(at, at + n), filled);
            filled += n;
            at += n;
            if (filled === want) {
              chunk = sealed;
              sealed = null;
              filled = 0;
            }
          }
          if (chunk) {
            opening.push(open(s, chunk, index, index + 1 === s.chunks));
            index += 1;
            while (opening.length >= IN_FLIGHT) await this.queue(await opening.shift());
          }
        }
      }
    } finally {
      // Chunks that arrived whole are kept even when the response was cut.
      while (opening.length) await this.queue(await opening.shift());
    }
    if (index < end) throw new Cut('the response ended early');
  }

  /** Queues one opened chunk, once the stream has room. */
  async queue(plain) {
    await this.waitForRoom();
    if (this.zip) {
      for (const piece of this.zip.push(new Uint8Array(plain))) this.controller.enqueue(piece);
    } else {
      this.controller.enqueue(new Uint8Array(plain));
    }
    this.next += 1;
    this.done += plain.byteLength;
    const now = Date.now();
    if (now - this.lastReport >= PROGRESS_MS) {
      this.lastReport = now;
      this.port.postMessage({ type: 'progress', done: this.done });
    }
  }

  /** A request under the claim; a refusal throws `Refused`, a network failure `Cut`. */
  async request(path, init) {
    const s = this.source;
    let response;
    try {
      response = await fetch(`/api/shares/${s.shareId}/${path}`, {
        ...init,
        headers: { Authorization: `Bearer ${s.claim}` },
        cache: 'no-store',
        signal: this.abort.signal,
      });
    } catch (e) {
      if (this.finished) throw e;
      throw new Cut('the server could not be reached');
    }
    if (response.ok) return response;
    let body;
    try {
      body = await response.json();
    } catch (e) {
      throw new Cut(`the server answered ${response.status}`);
    }
    if (response.status >= 500) throw new Cut(body.message || 'the server failed');
    throw new Refused(response.status, body);
  }

  /** Counts the download; the downloads the share still allows, or null if unknown (the
   * file is complete and authentic either way). */
  async count() {
    try {
      const response = await this.request('claims/done', { method: 'POST' });
      const done = await response.json();
      return Number.isInteger(done.downloads_left) ? done.downloads_left : null;
    } catch (e) {
      return null;
    }
  }

  /** Ends the download as failed (once): errors the stream, tells the decrypting worker. */
  fail(why) {
    if (this.finished) return;
    this.finished = true;
    downloads.delete(this.id);
    this.abort.abort();
    try {
      this.controller?.error(new Error(why.message || why.kind));
    } catch (e) {}
    this.onVerified(false);
    this.room();
    try {
      this.port.postMessage({ type: 'failed', ...why });
    } catch (e) {}
    this.close();
  }

  close() {
    // Forgotten once the browser's request took the stream; until then the request may
    // still come for a download that finished first.
    if (this.requested) downloads.delete(this.id);
    this.port.onmessage = null;
    this.port.close();
    this.onHandedOver();
  }
}

/** What a failure is, for the decrypting worker. */
function describe(error) {
  if (error instanceof Refused) return { kind: 'refused', status: error.status, body: error.body };
  if (error instanceof Cut) return { kind: 'lost', message: error.message };
  // WebCrypto refuses a chunk that does not verify with an OperationError.
  if (error && (error.name === 'OperationError' || error.message === 'corrupted')) {
    return { kind: 'corrupted' };
  }
  return { kind: 'internal', message: String((error && error.message) || error) };
}

/** CRC-32 (the ZIP one: reflected, polynomial 0xEDB88320), eight bytes per step with eight
 * tables ("slicing by 8"): 2.7 times the speed of a byte at a time here, which the ZIP's
 * download speed follows (BENCHMARKS.md, "Shares of several files"). */
const CRC_TABLES = (() => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const prev = t[(k - 1) * 256 + n];
      t[k * 256 + n] = (prev >>> 8) ^ t[prev & 0xff];
    }
  }
  return t;
})();

function crc32(crc, bytes) {
  const t = CRC_TABLES;
  let c = ~crc;
  let i = 0;
  for (const whole = bytes.length - (bytes.length % 8); i < whole; i += 8) {
    const lo = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) ^ c;
    c =
      t[1792 + (lo & 0xff)] ^ t[1536 + ((lo >>> 8) & 0xff)] ^ t[1280 + ((lo >>> 16) & 0xff)] ^ t[1024 + (lo >>> 24)] ^
      t[768 + bytes[i + 4]] ^ t[512 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^ t[bytes[i + 7]];
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** A ZIP from its layout and the payload's plaintext: see the top of this file. */
class ZipOut {
  constructor(layout) {
    this.layout = layout;
    this.at = 0; // the piece being written
    this.left = this.dataSize(); // bytes left of the file being passed through
    this.crc = 0;
    this.crcs = new Map();
  }

  dataSize() {
    const piece = this.layout[this.at];
    return piece && piece.d !== undefined ? piece.d : 0;
  }

  /** What to write for `plain` (and whatever comes before the next file's data). */
  push(plain) {
    const out = [];
    // Bounded: every turn takes a piece or bytes of `plain`, or returns.
    for (;;) {
      const piece = this.layout[this.at];
      if (!piece) {
        if (plain.length) throw new Error('corrupted');
        return out;
      }
      if (piece.b) out.push(piece.b);
      else if (piece.c !== undefined) out.push(le32(this.crcs.get(piece.c) ?? 0));
      else if (this.left > 0) {
        if (!plain.length) return out;
        const take = Math.min(this.left, plain.length);
        const part = plain.subarray(0, take);
        this.crc = crc32(this.crc, part);
        out.push(part);
        plain = plain.subarray(take);
        this.left -= take;
        continue;
      } else {
        this.crcs.set(piece.f, this.crc);
        this.crc = 0;
      }
      this.at += 1;
      this.left = this.dataSize();
    }
  }

  /** The rest of the archive after the last plaintext. */
  finish() {
    const out = this.push(new Uint8Array(0));
    if (this.at < this.layout.length) throw new Error('corrupted');
    return out;
  }
}

function le32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** The sealed size of chunk `index`. */
function sealedLength(s, index) {
  return index + 1 === s.chunks ? s.ciphertextSize - index * s.sealed : s.sealed;
}

/** Opens one sealed chunk: docs/FORMAT.md §5. */
function open(s, sealed, index, last) {
  const nonce = new Uint8Array(12);
  // The index as 11 bytes big-endian: chunk counts stay far below 2^53.
  for (let i = 10, n = index; i >= 0 && n > 0; i--, n = Math.floor(n / 256)) nonce[i] = n % 256;
  nonce[11] = last ? 1 : 0;
  return crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: s.header, tagLength: 128 },
    s.key,
    sealed,
  );
}

function gone() {
  return new Response('This download is no longer available; start it again from its page.', {
    status: 404,
    headers: { 'Content-Type': 'text/plain; charset=utf-8' },
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function respond(id) {
  const download = downloads.get(id);
  if (download?.requested) return gone();
  if (download) download.requested = true;
  const verified = download
    ? await Promise.race([download.verified, sleep(VERIFY_WAIT_MS).then(() => false)])
    : false;
  if (!verified) return gone();
  if (download.finished) downloads.delete(id);
  download.onHandedOver();
  const s = download.source;
  const headers = {
    'Content-Type': s.zip ? 'application/zip' : 'application/octet-stream',
    // RFC 6266 / 5987: the name exactly, whatever its characters (the browser sanitises it).
    'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(s.name)}`,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
    // With the length announced, a stream that ends short is also a failed download.
    'Content-Length': String(s.zip ? s.zipSize : s.size),
  };
  return new Response(download.stream, { headers });
}
