// Moves one large file through the web app in headless Chromium, upload and download
// separately, with WebCrypto and with the aes-gcm wasm fallback (`?aes=wasm`), next to the
// raw WebCrypto AES-256-GCM speed measured in the same browser. Run by
// scripts/bench-browser-transfer.sh, which builds everything, starts ferry-server and
// writes the input file; see BENCHMARKS.md. Measurements only: nothing here asserts on time.
//
// Environment (set by the script):
//   FERRY_BENCH_URL    the server, e.g. http://127.0.0.1:18120
//   FERRY_BENCH_INPUT  the file to move (random bytes)
//   FERRY_BENCH_ENGINES  "webcrypto,wasm" (default) or one of them
//   FERRY_BENCH_RAW_MIB  how much the raw WebCrypto loop encrypts/decrypts (default 1024)
//
// Playwright enables the CDP Network domain on every page and worker, so Chromium ships
// each WebSocket frame (base64) to this process. The bench adds no frame listeners, and
// times the transfer phases inside the page; see BENCHMARKS.md for what that costs.
import { test, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { chromiumPss, sampleChromium } from '../support/memory';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cdp, PAGE_ERROR } from '../support/cdp';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const MB = 1e6;
const MiB = 1 << 20;

// ---------------------------------------------------------------- in-page instruments

// Worst main-thread long task (reset before each click), and when each phase's text first
// appears (performance.timeOrigin + now, i.e. epoch milliseconds, comparable with Date.now()
// in this process).
const PAGE_SCRIPT = `
  window.__bench = { longest: 0, marks: {} };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__bench.longest = Math.max(window.__bench.longest, e.duration);
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) {}
  const PHASES = {
    keys: /Deriving keys from the passphrase/,
    connecting: /Connecting to the server/,
    transferring: /Encrypting and uploading|Downloading and decrypting/,
    finishing: /Finishing the (upload|download)/,
  };
  const mark = (name) => {
    const m = window.__bench.marks;
    if (!m[name]) m[name] = performance.timeOrigin + performance.now();
  };
  const look = () => {
    const text = document.body ? document.body.textContent || '' : '';
    for (const [name, re] of Object.entries(PHASES)) if (re.test(text)) mark(name);
    if (document.querySelector('#share-link')) mark('link');
    const label = /AES-GCM: ([^)]+)\\)/.exec(text);
    if (label) window.__bench.label = label[1];
    const saved = document.querySelector('p.saved');
    if (saved && (saved.textContent || '').trim()) mark('saved');
  };
  new MutationObserver(look).observe(document, { subtree: true, childList: true, characterData: true });
`;

interface Marks {
  keys?: number;
  connecting?: number;
  transferring?: number;
  finishing?: number;
  link?: number;
  saved?: number;
}

const marksOf = (page: Page): Promise<Marks> => page.evaluate(() => (window as any).__bench.marks);
const longestOf = (page: Page): Promise<number> => page.evaluate(() => (window as any).__bench.longest);
const resetPage = (page: Page) =>
  page.evaluate(() => {
    (window as any).__bench.longest = 0;
    (window as any).__bench.marks = {};
  });

// ---------------------------------------------------------------- memory of Chromium

/** PSS of Chromium's processes (tests/support/memory.ts: all this worker started, or
 * `root` and its descendants) idle now, and the peak until `stop`, sampled every 200 ms. */
function memorySampler(root?: number) {
  const idle = chromiumPss(root);
  const sampler = sampleChromium(200, root);
  return { idle, stop: () => ({ idle, peak: Math.max(idle, sampler.stop().peak) }) };
}

// ---------------------------------------------------------------- raw WebCrypto

// One dedicated worker, AES-256-GCM over 256 KiB chunks, one call per chunk awaited in
// turn (as scripts/bench-browser-crypto.sh measures it), then with 4 calls in flight.
const RAW_WORKER = `
onmessage = async (e) => {
  const CHUNK = 256 * 1024, POOL = 64;
  const count = Math.max(POOL, Math.round(e.data.mib * 4));
  const key = await crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(32)),
    'AES-GCM', false, ['encrypt', 'decrypt']);
  const aad = crypto.getRandomValues(new Uint8Array(40));
  const plains = [];
  for (let i = 0; i < POOL; i++) {
    const p = new Uint8Array(CHUNK);
    for (let o = 0; o < CHUNK; o += 65536) crypto.getRandomValues(p.subarray(o, o + 65536));
    plains.push(p);
  }
  const iv = (i) => { const b = new Uint8Array(12); new DataView(b.buffer).setUint32(8, i); return b; };
  const params = (i) => ({ name: 'AES-GCM', iv: iv(i % POOL), additionalData: aad, tagLength: 128 });
  const sealed = [];
  for (let i = 0; i < POOL; i++) sealed.push(await crypto.subtle.encrypt(params(i), key, plains[i]));
  const rate = (t0) => (count * CHUNK) / 1e6 / ((performance.now() - t0) / 1000);
  const out = {};
  let t0 = performance.now();
  for (let i = 0; i < count; i++) await crypto.subtle.encrypt(params(i), key, plains[i % POOL]);
  out.encrypt = rate(t0);
  t0 = performance.now();
  for (let i = 0; i < count; i++) await crypto.subtle.decrypt(params(i), key, sealed[i % POOL]);
  out.decrypt = rate(t0);
  const inFlight = async (op) => {
    const t = performance.now();
    let next = 0;
    const lane = async () => { while (next < count) { const i = next++; await op(i); } };
    await Promise.all([lane(), lane(), lane(), lane()]);
    return rate(t);
  };
  out.encrypt4 = await inFlight((i) => crypto.subtle.encrypt(params(i), key, plains[i % POOL]));
  out.decrypt4 = await inFlight((i) => crypto.subtle.decrypt(params(i), key, sealed[i % POOL]));
  postMessage(out);
};
`;

/** A tiny loopback server for the raw measurement's page and worker (127.0.0.1 is a secure
 * context, so crypto.subtle exists; the app's CSP would not allow an inline worker). */
async function rawServer(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/worker.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(RAW_WORKER);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>raw WebCrypto</title>');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

interface Raw {
  encrypt: number;
  decrypt: number;
  encrypt4: number;
  decrypt4: number;
}

async function measureRaw(browser: Browser, mib: number): Promise<Raw> {
  const { server, url } = await rawServer();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(url);
    return await page.evaluate(
      (mib) =>
        new Promise<Raw>((resolve, reject) => {
          const w = new Worker('/worker.js');
          w.onmessage = (e) => resolve(e.data);
          w.onerror = (e) => reject(new Error(String(e.message)));
          w.postMessage({ mib });
        }),
      mib,
    );
  } finally {
    await context.close();
    server.close();
  }
}

// ---------------------------------------------------------------- the app

interface Leg {
  direction: 'upload' | 'download';
  engine: string;
  driver?: string;
  ok: boolean;
  error?: string;
  /** ms from the click to the link / the saved file (Argon2id, socket, transfer). */
  totalMs?: number;
  /** ms from "Encrypting and uploading…" / "Downloading and decrypting…" to the end. */
  transferMs?: number;
  /** ms of key derivation (the click to "Connecting…"). */
  keysMs?: number;
  idle?: number;
  peak?: number;
  longest?: number;
  /** The engine as the page names it ("wasm, 2 workers"). */
  label?: string;
}

async function newPage(browser: Browser, baseURL: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL, acceptDownloads: true });
  await context.addInitScript(PAGE_SCRIPT);
  const page = await context.newPage();
  return { context, page };
}

const PASSPHRASE = 'benchmark passphrase, not a secret';

/** Resolves with the error the page shows (non-empty `p.error`) once it shows one; never
 * settles if the page closes first. Polls with `evaluate` (CDP's Runtime.callFunctionOn
 * is exempt from the app's CSP; `waitForFunction`, which needs eval, never resolved here). */
async function pageError(page: Page): Promise<string> {
  try {
    for (;;) {
      const error = await page.evaluate(() =>
        [...document.querySelectorAll('p.error')]
          .map((p) => (p.textContent || '').trim())
          .filter(Boolean)
          .join(' '),
      );
      if (error) return error;
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch {
    return new Promise<never>(() => {});
  }
}

/**
 * The page query for an engine name: "webcrypto" or "wasm", optionally with the upload's
 * number of sockets, as in "webcrypto/lanes=4".
 */
/** A leg's engine as the page named it, with the upload's lanes when the engine set them. */
function legName(l: Leg): string {
  const lanes = l.engine.split('/')[1];
  const name = l.label ?? l.engine.split('/')[0];
  return lanes && l.direction === 'upload' ? `${name}, ${lanes.replace('=', ' ')}` : name;
}

function engineQuery(engine: string): string {
  const [aes, lanes] = engine.split('/');
  const params = [aes === 'wasm' ? 'aes=wasm' : '', lanes ?? ''].filter(Boolean);
  return params.length ? `?${params.join('&')}` : '';
}

async function upload(browser: Browser, input: string, engine: string): Promise<{ leg: Leg; link?: string }> {
  const query = engineQuery(engine);
  const { context, page } = await newPage(browser, process.env.FERRY_BENCH_URL!);
  try {
    await page.goto(`/${query}`);
    await expect(page.getByText(/^Files up to/)).toBeVisible();
    await page.locator('#file-input').setInputFiles(input);
    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await resetPage(page);
    await settle();
    const mem = memorySampler();
    const clicked = Date.now();
    await page.getByRole('button', { name: 'Encrypt and upload' }).click();
    const linkBox = page.locator('#share-link');
    const outcome = await Promise.race([
      linkBox.waitFor({ state: 'visible', timeout: 0 }).then(() => ({ error: undefined })),
      pageError(page).then((error) => ({ error })),
    ]);
    const { idle, peak } = mem.stop();
    const m = await marksOf(page);
    const longest = await longestOf(page);
    if (outcome.error) {
      return { leg: { direction: 'upload', engine, ok: false, error: outcome.error, idle, peak, longest } };
    }
    const end = m.link ?? Date.now();
    const link = await linkBox.inputValue();
    return {
      link,
      leg: {
        direction: 'upload',
        engine,
        ok: true,
        totalMs: end - clicked,
        transferMs: m.transferring ? end - m.transferring : undefined,
        keysMs: m.connecting ? m.connecting - clicked : undefined,
        idle,
        peak,
        longest,
      },
    };
  } finally {
    await context.close();
  }
}

async function download(
  browser: Browser,
  link: string,
  engine: string,
  expected: string,
): Promise<Leg> {
  const u = new URL(link);
  const url = `${u.origin}${u.pathname}${engineQuery(engine)}${u.hash}`;
  const { context, page } = await newPage(browser, u.origin);
  try {
    await page.goto(url);
    await expect(page.getByText(/A file is waiting for you/)).toBeVisible();
    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await resetPage(page);
    await settle();
    const mem = memorySampler();
    const clicked = Date.now();
    // Not awaited: when the page refuses at once (a file over its size cap), Playwright's
    // click never returned here; the race below sees the outcome either way.
    page
      .getByRole('button', { name: 'Download' })
      .click()
      .catch(() => {});
    const outcome = await Promise.race([
      page.waitForEvent('download', { timeout: 0 }).then((d) => ({ d, error: undefined })),
      pageError(page).then((error) => ({ d: undefined, error })),
    ]);
    let error = outcome.error;
    let end = Date.now();
    let path: string | null = null;
    if (outcome.d) {
      // Resolves once the browser has finished writing the file.
      path = await outcome.d.path().catch(() => null);
      end = Date.now();
      const failure = await outcome.d.failure();
      if (failure || !path) error = `download failed: ${failure ?? 'no file'}`;
    }
    const { idle, peak } = mem.stop();
    const m = await marksOf(page);
    const longest = await longestOf(page);
    if (!error && path) {
      const got = await sha256(path);
      if (got !== expected) error = `the saved file differs (sha256 ${got}, expected ${expected})`;
      if (outcome.d) await outcome.d.delete();
    }
    if (error) return { direction: 'download', engine, ok: false, error, idle, peak, longest };
    return {
      direction: 'download',
      engine,
      ok: true,
      totalMs: end - clicked,
      transferMs: m.transferring ? end - m.transferring : undefined,
      keysMs: m.connecting ? m.connecting - clicked : undefined,
      idle,
      peak,
      longest,
    };
  } finally {
    await context.close();
  }
}

// The same two legs driven over a bare CDP pipe (no Network domain): see tests/support/cdp.ts.


async function cdpUpload(cdp: Cdp, input: string, engine: string): Promise<{ leg: Leg; link?: string }> {
  const query = engineQuery(engine);
  const page = await cdp.newPage(PAGE_SCRIPT);
  try {
    await page.goto(`${process.env.FERRY_BENCH_URL}/${query}`);
    await page.waitFor(`/Files up to/.test(document.body.textContent)`);
    await page.setInputFiles('#file-input', [input]);
    await page.fill('#passphrase', PASSPHRASE);
    await page.eval(`window.__bench.longest = 0, window.__bench.marks = {}`);
    await settle();
    const mem = memorySampler(cdp.pid);
    const clicked = Date.now();
    await page.clickButton('Encrypt and upload');
    const outcome = await page.waitFor<{ link?: string; error?: string }>(
      `(() => { const l = document.querySelector('#share-link'); const e = ${PAGE_ERROR};
        return l && l.value ? { link: l.value } : e ? { error: e } : null; })()`,
      250,
    );
    const { idle, peak } = mem.stop();
    const m: Marks = await page.eval(`window.__bench.marks`);
    const longest: number = await page.eval(`window.__bench.longest`);
    const label: string | undefined = await page.eval(`window.__bench.label`);
    const base = { direction: 'upload' as const, engine, driver: 'cdp', idle, peak, longest, label };
    if (outcome.error) return { leg: { ...base, ok: false, error: outcome.error } };
    const end = m.link ?? Date.now();
    return {
      link: outcome.link,
      leg: {
        ...base,
        ok: true,
        totalMs: end - clicked,
        transferMs: m.transferring ? end - m.transferring : undefined,
        keysMs: m.connecting ? m.connecting - clicked : undefined,
      },
    };
  } finally {
    await page.close();
  }
}

async function cdpDownload(cdp: Cdp, link: string, engine: string, expected: string): Promise<Leg> {
  const u = new URL(link);
  const url = `${u.origin}${u.pathname}${engineQuery(engine)}${u.hash}`;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-dl-'));
  const page = await cdp.newPage(PAGE_SCRIPT, dir);
  try {
    await page.goto(url);
    await page.waitFor(`/A file is waiting for you/.test(document.body.textContent)`);
    await page.fill('#passphrase', PASSPHRASE);
    await page.eval(`window.__bench.longest = 0, window.__bench.marks = {}`);
    await settle();
    const mem = memorySampler(cdp.pid);
    const clicked = Date.now();
    const saved = page.nextDownload();
    await page.clickButton('Download');
    const shown = page
      .waitFor<string>(`(${PAGE_ERROR}) || (window.__stop ? 'stopped' : '')`, 250)
      .then((error) => ({ error, file: undefined }))
      // The page closes once the race is decided.
      .catch(() => new Promise<never>(() => {}));
    const outcome = await Promise.race([
      saved.then((file) => ({ file, error: undefined as string | undefined })),
      shown,
    ]).catch((e) => ({ file: undefined, error: String(e) }));
    const end = Date.now();
    await page.eval(`window.__stop = true`).catch(() => {});
    const { idle, peak } = mem.stop();
    const m: Marks = await page.eval(`window.__bench.marks`);
    const longest: number = await page.eval(`window.__bench.longest`);
    const label: string | undefined = await page.eval(`window.__bench.label`);
    const base = { direction: 'download' as const, engine, driver: 'cdp', idle, peak, longest, label };
    let error = outcome.error;
    if (!error && outcome.file) {
      const got = await sha256(join(dir, outcome.file.guid));
      if (got !== expected) error = `the saved file differs (sha256 ${got}, expected ${expected})`;
    }
    if (error) return { ...base, ok: false, error };
    return {
      ...base,
      ok: true,
      totalMs: end - clicked,
      transferMs: m.transferring ? end - m.transferring : undefined,
      keysMs: m.connecting ? m.connecting - clicked : undefined,
    };
  } finally {
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A pause so memory freed by the previous step can settle before the idle sample. */
const settle = () => new Promise((r) => setTimeout(r, 1500));

function sha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 4 * MiB })
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

// ---------------------------------------------------------------- report

const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '–' : n.toFixed(digits));

test('browser transfer benchmark', async ({ browser, launchOptions }) => {
  const input = process.env.FERRY_BENCH_INPUT!;
  const size = statSync(input).size;
  const engines = (process.env.FERRY_BENCH_ENGINES ?? 'webcrypto,wasm').split(',').filter(Boolean);
  const rawMib = Number(process.env.FERRY_BENCH_RAW_MIB ?? 1024);
  const expected = await sha256(input);
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const loadBefore = load();

  const raw = await measureRaw(browser, rawMib);
  const drivers = (process.env.FERRY_BENCH_DRIVERS ?? 'cdp,playwright').split(',').filter(Boolean);
  const legs: Leg[] = [];
  for (const driver of drivers) {
    const cdp = driver === 'cdp' ? Cdp.launch(launchOptions.executablePath!, launchOptions.args ?? []) : undefined;
    try {
      for (const engine of engines) {
        const up = cdp ? await cdpUpload(cdp, input, engine) : await upload(browser, input, engine);
        up.leg.driver = driver;
        legs.push(up.leg);
        console.log(`upload (${engine}, ${driver}): ${JSON.stringify(up.leg)}`);
        if (!up.link) continue;
        const down = cdp ? await cdpDownload(cdp, up.link, engine, expected) : await download(browser, up.link, engine, expected);
        down.driver = driver;
        legs.push(down);
        console.log(`download (${engine}, ${driver}): ${JSON.stringify(down)}`);
      }
    } finally {
      await cdp?.close();
    }
  }
  const rawAfter = await measureRaw(browser, rawMib);
  const loadAfter = load();

  const rate = (ms?: number) => (ms ? (size / MB / (ms / 1000)).toFixed(0) : '–');
  const lines = [
    '',
    `file: ${(size / MiB).toFixed(0)} MiB random (${size} bytes), 256 KiB chunks, ${process.env.FERRY_BENCH_URL}`,
    `raw WebCrypto AES-256-GCM, 256 KiB chunks, dedicated worker, ${rawMib} MiB each:`,
    `  one call at a time:  encrypt ${fmt(raw.encrypt)} / decrypt ${fmt(raw.decrypt)} MB/s before the transfers,` +
      ` ${fmt(rawAfter.encrypt)} / ${fmt(rawAfter.decrypt)} MB/s after`,
    `  4 calls in flight:   encrypt ${fmt(raw.encrypt4)} / decrypt ${fmt(raw.decrypt4)} MB/s before,` +
      ` ${fmt(rawAfter.encrypt4)} / ${fmt(rawAfter.decrypt4)} MB/s after`,
    '',
    '| direction | engine | driver | transfer MB/s | total MB/s (incl. Argon2id) | Argon2id | Chromium PSS idle → peak (+Δ) | longest main-thread task |',
    '|---|---|---|---:|---:|---:|---|---:|',
  ];
  for (const l of legs) {
    const mem =
      l.idle !== undefined && l.peak !== undefined
        ? `${(l.idle / MiB).toFixed(0)} → ${(l.peak / MiB).toFixed(0)} MiB (+${((l.peak - l.idle) / MiB).toFixed(0)})`
        : '–';
    if (!l.ok) {
      lines.push(`| ${l.direction} | ${l.engine} | ${l.driver} | FAILED: ${l.error} | | | ${mem} | ${fmt(l.longest)} ms |`);
      continue;
    }
    lines.push(
      `| ${l.direction} | ${legName(l)} | ${l.driver} | ${rate(l.transferMs)} (${fmt((l.transferMs ?? 0) / 1000, 2)} s) | ` +
        `${rate(l.totalMs)} (${fmt((l.totalMs ?? 0) / 1000, 2)} s) | ${fmt(l.keysMs)} ms | ${mem} | ${fmt(l.longest)} ms |`,
    );
  }
  lines.push('', `load average: ${loadBefore} before, ${loadAfter} after`, '');
  console.log(lines.join('\n'));
  // Wrong bytes are a bug, not a measurement.
  for (const l of legs) expect(l.error ?? '', `${l.direction} ${l.engine}`).not.toMatch(/differs/);
});
