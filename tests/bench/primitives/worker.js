// The pieces of a browser transfer measured one by one in a dedicated worker, as the app's
// worker would do them, on the app's own origin (scripts/bench-browser-transfer.sh with
// PRIMITIVES=1 serves this beside the app): File reads at several sizes, the upload and
// download WebSockets alone (ciphertext-shaped filler, the protocol's window and acks, a
// made-up header: the server checks none of the crypto), then the same with WebCrypto
// AES-GCM and, for downloads, the Blob folding download.rs does. MB/s are 10^6 bytes/s.
const CHUNK = 262144, TAG = 16, WINDOW_MAX = 16;
const log = (...a) => postMessage({ log: a.join(' ') });
const b64u = (u8) => { let s = ''; for (const b of u8) s += String.fromCharCode(b); return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''); };
const rate = (bytes, t0) => (bytes / 1e6 / ((performance.now() - t0) / 1000)).toFixed(0) + ' MB/s';
const header = () => { const h = new Uint8Array(40); h.set(new TextEncoder().encode('ferry'), 0); h[5] = 1; h[6] = 0; h[7] = 1;
  const dv = new DataView(h.buffer); dv.setUint32(8, 65536); dv.setUint32(12, 3); dv.setUint32(16, 1); crypto.getRandomValues(h.subarray(20, 36)); dv.setUint32(36, CHUNK); return h; };
async function verifier(token) { const l = new TextEncoder().encode('ferry/v1/token-verifier'); const b = new Uint8Array(l.length + token.length); b.set(l); b.set(token, l.length); return new Uint8Array(await crypto.subtle.digest('SHA-256', b)); }

async function readTest(f, sz, inflight) {
  const t0 = performance.now(); let off = 0; const lanes = [];
  const lane = async () => { while (off < f.size) { const s = off; off += sz; await f.slice(s, Math.min(s + sz, f.size)).arrayBuffer(); } };
  for (let i = 0; i < inflight; i++) lanes.push(lane());
  await Promise.all(lanes); return rate(f.size, t0);
}

function open(path) { return new Promise((res, rej) => { const ws = new WebSocket(`ws://${location.host}${path}`); ws.binaryType = 'arraybuffer'; ws.onopen = () => res(ws); ws.onerror = rej; }); }
function messages(ws) { const q = []; let wake = null; ws.onmessage = (e) => { q.push(e.data); if (wake) { wake(); wake = null; } }; ws.onclose = () => { q.push(null); if (wake) { wake(); wake = null; } };
  return async () => { while (!q.length) await new Promise((r) => (wake = r)); return q.shift(); }; }

// upload `n` chunks produced by `produce(i)` (promise of Uint8Array), `ahead` produced ahead
async function upload(n, lastLen, produce, ahead) {
  const token = crypto.getRandomValues(new Uint8Array(32));
  const h = header();
  const ws = await open('/api/ws/upload'); const next = messages(ws);
  ws.send(JSON.stringify({ type: 'start', version: 1, header: b64u(h), metadata: b64u(new Uint8Array(100)), verifier: b64u(await verifier(token)),
    expires_in_secs: 3600, max_downloads: 10, ciphertext_size: (n - 1) * (CHUNK + TAG) + lastLen + TAG }));
  const ready = JSON.parse(await next()); if (ready.type !== 'ready') throw new Error(JSON.stringify(ready));
  const window = ready.window; let acked = 0, issued = 0, sent = 0; const q = [];
  const t0 = performance.now(); let bytes = 0;
  const pending = []; let done = null;
  ws.onmessage = (e) => { const m = JSON.parse(e.data); if (m.type === 'ack') acked = m.chunks; else if (m.type === 'done') done = m; else log('msg', e.data); if (wakeAck) { const w = wakeAck; wakeAck = null; w(); } };
  let wakeAck = null;
  while (sent < n) {
    while (issued < n && issued < acked + window && q.length < ahead) q.push(produce(issued++));
    if (q.length) { const c = await q.shift(); ws.send(c); bytes += c.byteLength; sent++; continue; }
    await new Promise((r) => (wakeAck = r));
  }
  ws.send(JSON.stringify({ type: 'finish' }));
  while (!done) await new Promise((r) => (wakeAck = r));
  const r = rate(bytes, t0); ws.close(); return { r, share: done.share_id, token };
}

async function download(share, token, consume) {
  const ws = await open('/api/ws/download'); const next = messages(ws);
  ws.send(JSON.stringify({ type: 'start', version: 1, share_id: share, token: b64u(token) }));
  const ready = JSON.parse(await next()); if (ready.type !== 'ready') throw new Error(JSON.stringify(ready));
  const t0 = performance.now(); let got = 0, bytes = 0;
  for (;;) { const m = await next(); if (m === null) break; if (typeof m === 'string') { const j = JSON.parse(m); if (j.type === 'done') break; log('dmsg', m); continue; }
    bytes += m.byteLength; await consume(m, got); got++; ws.send(JSON.stringify({ type: 'ack', chunks: got })); }
  const r = rate(bytes, t0); ws.close(); return r;
}

onmessage = async (e) => {
  try {
  const f = e.data.file; const which = e.data.which || 'all';
  const n = Math.ceil(f.size / CHUNK), lastLen = f.size - (n - 1) * CHUNK;
  const key = await crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(32)), 'AES-GCM', false, ['encrypt', 'decrypt']);
  const aad = crypto.getRandomValues(new Uint8Array(40));
  const iv = (i) => { const b = new Uint8Array(12); new DataView(b.buffer).setUint32(8, i); return b; };
  if (which.includes('read')) {
    log('read 256K x1', await readTest(f, CHUNK, 1));
    log('read 256K x4', await readTest(f, CHUNK, 4));
    log('read 4M x1', await readTest(f, 16 * CHUNK, 1));
    log('read 4M x2', await readTest(f, 16 * CHUNK, 2));
    log('read 16M x1', await readTest(f, 64 * CHUNK, 1));
    { const t0 = performance.now(); const r = new FileReaderSync(); for (let o = 0; o < f.size; o += 16 * CHUNK) r.readAsArrayBuffer(f.slice(o, o + 16 * CHUNK)); log('FileReaderSync 4M', rate(f.size, t0)); }
    { const t0 = performance.now(); const rd = f.stream().getReader(); let n = 0, sizes = new Set(); for (;;) { const { done, value } = await rd.read(); if (done) break; n += value.length; sizes.add(value.length); } log('stream()', rate(n, t0), [...sizes].slice(0, 5).join(',')); }
  }
  const pool = []; for (let i = 0; i < 64; i++) { const p = new Uint8Array(CHUNK + TAG); for (let o = 0; o < p.length; o += 65536) crypto.getRandomValues(p.subarray(o, Math.min(o + 65536, p.length))); pool.push(p); }
  let s1;
  if (which.includes('sock')) {
    s1 = await upload(n, lastLen, async (i) => i === n - 1 ? pool[i % 64].subarray(0, lastLen + TAG) : pool[i % 64], 4);
    log('socket-only upload', s1.r);
    log('socket-only download', await download(s1.share, s1.token, async () => {}));
  }
  if (which.includes('full')) {
    // as upload.rs: 256 KiB slice per chunk, seal ahead 4
    const seal = (i, buf) => crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv(i), additionalData: aad, tagLength: 128 }, key, buf).then((b) => new Uint8Array(b));
    const a = await upload(n, lastLen, (i) => f.slice(i * CHUNK, Math.min((i + 1) * CHUNK, f.size)).arrayBuffer().then((b) => seal(i, b)), 4);
    log('upload 256K reads, seal ahead 4', a.r);
    // 4 MiB reads
    let blockIdx = -1, block = null;
    const produce = (i) => { const bi = Math.floor(i / 16); if (bi !== blockIdx) { blockIdx = bi; block = f.slice(bi * 16 * CHUNK, Math.min((bi + 1) * 16 * CHUNK, f.size)).arrayBuffer(); }
      const off = (i % 16) * CHUNK; return block.then((b) => seal(i, new Uint8Array(b, off, Math.min(CHUNK, b.byteLength - off)))); };
    const b = await upload(n, lastLen, produce, 16);
    log('upload 4M reads, seal ahead 16', b.r);
    blockIdx = -1;
    const c = await upload(n, lastLen, produce, 4);
    log('upload 4M reads, seal ahead 4', c.r);
    // download with decrypt and blob folding as download.rs
    let parts = [], folded = [];
    log('download decrypt+fold', await download(b.share, b.token, async (m, i) => { const p = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: iv(i), additionalData: aad, tagLength: 128 }, key, m); parts.push(new Uint8Array(p)); if (parts.length >= 64) { folded.push(new Blob(parts)); parts = []; } }));
    parts = []; folded = [];
    log('download decrypt only', await download(b.share, b.token, async (m, i) => { await crypto.subtle.decrypt({ name: 'AES-GCM', iv: iv(i), additionalData: aad, tagLength: 128 }, key, m); }));
  }
  postMessage({ done: true });
  } catch (err) { postMessage({ log: 'ERROR ' + err }); postMessage({ done: true }); }
};
