// Moves one large file through the web app in headless Chromium, upload and download
// separately, with WebCrypto and with the aes-gcm wasm fallback (`?aes=wasm`), next to the
// raw WebCrypto AES-256-GCM speed measured in the same browser. Run by
// scripts/bench-browser-transfer.sh, which builds everything, starts ferry-server and
// writes the input file; see BENCHMARKS.md. Measurements only: nothing here asserts on time.
//
// Environment (set by the script):
//   FERRY_BENCH_URL    the server, e.g. http://127.0.0.1:18120
//   FERRY_BENCH_INPUT  the file to move (random bytes), or a folder: chosen with the folder
//                      picker, saved as a ZIP and checked with Python's zipfile (Playwright
//                      driver only: the bare-CDP one picks single files)
//   FERRY_BENCH_ENGINES  "webcrypto,wasm" (default) or one of them
//   FERRY_BENCH_RAW_MIB  how much the raw WebCrypto loop encrypts/decrypts (default 1024)
//
// Playwright enables the CDP Network domain on every page and worker, so Chromium ships
// each WebSocket frame (base64) to this process. The bench adds no frame listeners, and
// times the transfer phases inside the page; see BENCHMARKS.md for what that costs.
import { test, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cdp } from '../support/cdp';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cdpDownload, cdpUpload, engineQuery, PAGE_SCRIPT, PASSPHRASE, type Leg, type Marks } from './ferry-pages';
import { fmt, loadAverage, MB, MiB, memorySampler, settle, sha256 } from './measure';

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

// ---------------------------------------------------------------- folders

/** Bytes in every file under `dir`. */
function treeSize(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((sum, e) => {
    const path = join(dir, e.name);
    return sum + (e.isDirectory() ? treeSize(path) : statSync(path).size);
  }, 0);
}

/** Files under `dir`. */
function countFiles(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce(
    (n, e) => n + (e.isDirectory() ? countFiles(join(dir, e.name)) : 1),
    0,
  );
}

/** Checks a saved ZIP against the folder it was made of (every file byte for byte, CRCs
 * by `testzip`); resolves with what differs, or undefined. */
const ZIP_CHECK = `
import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
assert bad is None, "bad CRC: " + bad
root, top = sys.argv[2], os.path.basename(sys.argv[2])
names = set(n for n in z.namelist() if not n.endswith("/"))
want = set()
for base, dirs, files in os.walk(root):
    for f in files:
        path = os.path.join(base, f)
        name = os.path.join(top, os.path.relpath(path, root))
        want.add(name)
        with z.open(name) as a, open(path, "rb") as b:
            while True:
                x, y = a.read(1 << 20), b.read(1 << 20)
                assert x == y, "differs: " + name
                if not x: break
assert names == want, sorted(names ^ want)[:5]
`;
async function zipMatches(zip: string, dir: string): Promise<string | undefined> {
  try {
    await promisify(execFile)('python3', ['-c', ZIP_CHECK, zip, dir], { maxBuffer: 1 << 20 });
    return undefined;
  } catch (e) {
    return `the saved ZIP differs from the folder: ${String((e as { stderr?: string }).stderr ?? e).slice(-300)}`;
  }
}

// ---------------------------------------------------------------- the app, driven by Playwright

const marksOf = (page: Page): Promise<Marks> => page.evaluate(() => (window as any).__bench.marks);
const longestOf = (page: Page): Promise<number> => page.evaluate(() => (window as any).__bench.longest);
const resetPage = (page: Page) =>
  page.evaluate(() => {
    (window as any).__bench.longest = 0;
    (window as any).__bench.marks = {};
  });

async function newPage(browser: Browser, baseURL: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL, acceptDownloads: true });
  await context.addInitScript(PAGE_SCRIPT);
  const page = await context.newPage();
  return { context, page };
}

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

/** A leg's engine as the page named it, with the upload's lanes when the engine set them. */
function legName(l: Leg): string {
  const lanes = l.engine.split('/')[1];
  const name = l.label ?? l.engine.split('/')[0];
  return lanes && l.direction === 'upload' ? `${name}, ${lanes.replace('=', ' ')}` : name;
}

async function upload(browser: Browser, input: string, engine: string): Promise<{ leg: Leg; link?: string }> {
  const query = engineQuery(engine);
  const { context, page } = await newPage(browser, process.env.FERRY_BENCH_URL!);
  try {
    await page.goto(`/${query}`);
    await expect(page.getByText(/^Files up to/)).toBeVisible();
    const picker = statSync(input).isDirectory() ? '#folder-input' : '#file-input';
    await page.locator(picker).setInputFiles(input);
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
  check: (saved: string) => Promise<string | undefined>,
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
      error = await check(path);
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

// ---------------------------------------------------------------- report

test('browser transfer benchmark', async ({ browser, launchOptions }) => {
  const input = process.env.FERRY_BENCH_INPUT!;
  const folder = statSync(input).isDirectory();
  const size = folder ? treeSize(input) : statSync(input).size;
  const engines = (process.env.FERRY_BENCH_ENGINES ?? 'webcrypto,wasm').split(',').filter(Boolean);
  const rawMib = Number(process.env.FERRY_BENCH_RAW_MIB ?? 1024);
  const expected = folder ? '' : await sha256(input);
  const check = async (saved: string) => {
    if (folder) return zipMatches(saved, input);
    const got = await sha256(saved);
    return got === expected ? undefined : `the saved file differs (sha256 ${got}, expected ${expected})`;
  };
  const loadBefore = loadAverage();

  const raw = await measureRaw(browser, rawMib);
  const drivers = (process.env.FERRY_BENCH_DRIVERS ?? 'cdp,playwright')
    .split(',')
    .filter((d) => d && !(folder && d === 'cdp'));
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
        const down = cdp ? await cdpDownload(cdp, up.link, engine, expected) : await download(browser, up.link, engine, check);
        down.driver = driver;
        legs.push(down);
        console.log(`download (${engine}, ${driver}): ${JSON.stringify(down)}`);
      }
    } finally {
      await cdp?.close();
    }
  }
  const rawAfter = await measureRaw(browser, rawMib);
  const loadAfter = loadAverage();

  const rate = (ms?: number) => (ms ? (size / MB / (ms / 1000)).toFixed(0) : '–');
  const lines = [
    '',
    `${folder ? `folder of ${countFiles(input)} files` : 'file'}: ${(size / MiB).toFixed(0)} MiB random (${size} bytes), 256 KiB chunks, ${process.env.FERRY_BENCH_URL}`,
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
