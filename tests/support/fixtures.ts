// Shared fixtures: isolated browser contexts whose page errors fail the test, every
// WebSocket frame captured, a long-task monitor, and helpers to send and receive.
import { test as base, expect, type Browser, type BrowserContextOptions, type Download, type Page } from '@playwright/test';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export interface Frame {
  url: string;
  direction: 'sent' | 'received';
  payload: Buffer;
}

export interface Harness {
  /** A page in a fresh browser context (a separate "person"), in the test's browser or in
   * `options.browser` (e.g. one launched with other flags). `recordFrames: false` keeps
   * its WebSocket frames out of `frames` (gigabyte transfers). */
  openPage: (baseUrl?: string, options?: PageOptions) => Promise<Page>;
  /** Every WebSocket frame any page of this test sent or received. */
  frames: Frame[];
  /** Every WebSocket URL any page of this test opened. */
  sockets: string[];
  /** Strings that must never appear in a frame or in the server's data directory. */
  secrets: string[];
  /** Upload tokens and invitations: like `secrets`, except that an upload's `start` message
   * (a sent frame) carries one by design. Never in another frame, in a request URL, or in
   * the main server's data directory (a test checks its own server's). */
  credentials: string[];
  /** Every URL any page of this test requested (navigation, fetch, scripts…). */
  requests: string[];
  /** Worst main-thread long task (ms) seen so far on every page of this test. */
  longestTask: () => Promise<number>;
}

// Reports main-thread long tasks; Playwright injects this before the page's own scripts
// (outside the page's CSP).
export const LONGTASK_SCRIPT = `
  window.__ferryLongest = 0;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__ferryLongest = Math.max(window.__ferryLongest, e.duration);
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) {}
`;

export type PageOptions = BrowserContextOptions & { browser?: Browser; recordFrames?: boolean };

export const test = base.extend<{ harness: Harness }>({
  harness: async ({ browser }, use, testInfo) => {
    const frames: Frame[] = [];
    const sockets: string[] = [];
    const secrets: string[] = [];
    const credentials: string[] = [];
    const requests: string[] = [];
    const errors: string[] = [];
    const pages: Page[] = [];
    const contexts: Awaited<ReturnType<Browser['newContext']>>[] = [];
    const openPage = async (
      baseUrl = process.env.FERRY_E2E_URL!,
      { browser: other, recordFrames = true, ...options }: PageOptions = {},
    ) => {
      const context = await (other ?? browser).newContext({ baseURL: baseUrl, acceptDownloads: true, ...options });
      contexts.push(context);
      await context.addInitScript(LONGTASK_SCRIPT);
      const page = await context.newPage();
      page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
      page.on('crash', () => errors.push('page crashed'));
      page.on('request', (r) => requests.push(r.url()));
      // The server's CSP must not block anything the app does (inline scripts, styles…).
      page.on('console', (m) => {
        if (/Content Security Policy|Refused to (load|execute|apply|connect|create)/i.test(m.text())) {
          errors.push(`CSP: ${m.text()}`);
        }
      });
      page.on('websocket', (ws) => {
        sockets.push(ws.url());
        if (!recordFrames) return;
        const record = (direction: Frame['direction']) => (f: { payload: string | Buffer }) =>
          frames.push({
            url: ws.url(),
            direction,
            payload: typeof f.payload === 'string' ? Buffer.from(f.payload, 'utf8') : f.payload,
          });
        ws.on('framesent', record('sent'));
        ws.on('framereceived', record('received'));
      });
      pages.push(page);
      return page;
    };
    const taskOf = async (p: Page) =>
      p.isClosed() ? 0 : await p.evaluate(() => (window as any).__ferryLongest ?? 0).catch(() => 0);
    const longestTask = async () => {
      let worst = 0;
      for (const p of pages) worst = Math.max(worst, await taskOf(p));
      return worst;
    };
    await use({ openPage, frames, sockets, secrets, credentials, requests, longestTask });

    const perPage = await Promise.all(pages.map(taskOf));
    const worst = Math.max(0, ...perPage);
    testInfo.annotations.push({ type: 'longest main-thread task during transfers (ms)', description: worst.toFixed(0) });
    console.log(
      `[${testInfo.title}] longest main-thread long task during transfers: ${worst.toFixed(0)} ms` +
        ` (per page in opening order: ${perPage.map((t) => t.toFixed(0)).join(', ')})${worst >= 200 ? ' (over the 200 ms goal)' : ''}`,
    );
    for (const c of contexts) await c.close();
    for (const dir of createdDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    // A page that never mounts must not pass as a slow page.
    expect(errors, 'page errors').toEqual([]);
    // Nothing secret left the browser.
    for (const secret of secrets) {
      const needle = Buffer.from(secret, 'utf8');
      const hit = frames.find((f) => f.payload.includes(needle));
      expect(hit, `a WebSocket frame (${hit?.direction} ${hit?.url}) contains "${secret}"`).toBeUndefined();
      const file = findInDir(process.env.FERRY_E2E_DATA_DIR!, needle);
      expect(file, `the server's data directory (${file}) contains "${secret}"`).toBeUndefined();
    }
    for (const credential of credentials) {
      const needle = Buffer.from(credential, 'utf8');
      const hit = frames.find((f) => f.payload.includes(needle) && !isStart(f));
      expect(hit, `a WebSocket frame (${hit?.direction} ${hit?.url}) other than a start contains a credential`).toBeUndefined();
      const url = requests.find((u) => u.includes(credential));
      expect(url, `a request URL (${url}) contains a credential`).toBeUndefined();
      const file = findInDir(process.env.FERRY_E2E_DATA_DIR!, needle);
      expect(file, `the server's data directory (${file}) contains a credential`).toBeUndefined();
    }
  },
});

export { expect };

/** Whether `f` is an upload's `start` message, sent by the page. */
function isStart(f: Frame): boolean {
  if (f.direction !== 'sent' || !f.url.includes('/api/ws/upload')) return false;
  try {
    return JSON.parse(f.payload.toString('utf8')).type === 'start';
  } catch {
    return false;
  }
}

/** A file in `dir` (recursively) whose bytes contain `needle`, if any. */
export function findInDir(dir: string, needle: Buffer): string | undefined {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const hit = findInDir(path, needle);
      if (hit) return hit;
    } else if (entry.isFile() && readFileSync(path).includes(needle)) {
      return path;
    }
  }
  return undefined;
}

/** Every regular file under `dir` with its size. A running server may rename or remove
 * files meanwhile (a segment's staging file becomes the segment): what vanished between
 * listing and reading is left out, as it would be from a listing a moment later. */
export function listFiles(dir: string): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e: any) {
    if (e?.code === 'ENOENT') return out;
    throw e;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      out.push(...listFiles(path));
      continue;
    }
    if (!entry.isFile()) continue;
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat) out.push({ path, size: stat.size });
  }
  return out;
}

const createdDirs: string[] = [];

/** A random-content file named `name` on disk, starting with a plaintext marker. */
export function makeFile(name: string, size: number): { path: string; data: Buffer; marker: string } {
  const marker = `FERRY-PLAINTEXT-${randomBytes(8).toString('hex')}`;
  const data = randomBytes(size);
  Buffer.from(marker).copy(data, 0, 0, Math.min(size, marker.length));
  // Repeat the marker inside every 256 KiB chunk, so any leaked chunk would show it.
  for (let off = 256 * 1024; off + marker.length <= size; off += 256 * 1024) Buffer.from(marker).copy(data, off);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-file-'));
  createdDirs.push(dir);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, data, marker: size >= marker.length ? marker : '' };
}

export function passphrase(): string {
  return `pass-${randomBytes(6).toString('hex')} horse staple`;
}

export const CHUNK = 256 * 1024;
export const TAG = 16;
/** Ciphertext size of a plaintext of `n` bytes under the default 256 KiB chunks. */
export function ciphertextSize(n: number): number {
  return n + Math.max(1, Math.ceil(n / CHUNK)) * TAG;
}

/** Milliseconds from the last click on "Encrypt and upload" to the link (Argon2id included),
 * and from the last click on "Download" to the saved file. */
export const timings = { upload: 0, download: 0 };

/** Forgets long tasks so far (page load, wasm compilation): the report covers transfers. */
export async function resetLongTasks(page: Page): Promise<void> {
  await page.evaluate(() => ((window as any).__ferryLongest = 0));
}

/** Uploads `filePath` (several: one share of them) from `page` and returns the share link. */
export async function send(
  page: Page,
  filePath: string | string[],
  pass: string,
  opts: { query?: string; downloads?: string; timeout?: number; stay?: boolean } = {},
): Promise<string> {
  // `stay`: send from the page as it is (say, one that offers to continue an upload).
  if (!opts.stay) await page.goto(`/${opts.query ?? ''}`);
  await expect(page.getByText(/^Files up to/)).toBeVisible();
  await page.locator('#file-input').setInputFiles(filePath);
  await page.getByLabel('Passphrase', { exact: true }).fill(pass);
  if (opts.downloads) await page.getByLabel('Download limit').selectOption(opts.downloads);
  await resetLongTasks(page);
  const clicked = Date.now();
  await page.getByRole('button', { name: 'Encrypt and upload' }).click();
  const link = page.getByRole('textbox', { name: 'Share link' });
  await expect(link).toBeVisible({ timeout: opts.timeout ?? 60_000 });
  timings.upload = Date.now() - clicked;
  const value = await link.inputValue();
  expect(value).toMatch(/\/s\/[A-Za-z0-9_-]+#[A-Za-z0-9_-]{22}$/);
  return value;
}

/** Opens `link` on `page` and waits until it says a file is waiting. */
export async function openLink(page: Page, link: string): Promise<void> {
  await page.goto(link);
  await expect(page.getByText(/A file is waiting for you/)).toBeVisible();
}

/** `link` with its origin replaced by `origin` (path, query and fragment kept). */
export function rebase(link: string, origin: string): string {
  const u = new URL(link);
  return `${origin}${u.pathname}${u.search}${u.hash}`;
}

/** Enters the passphrase and clicks Download; resolves with the saved download. */
export async function download(page: Page, pass: string, timeout = 60_000): Promise<Download> {
  const downloaded = page.waitForEvent('download', { timeout });
  await page.getByLabel('Passphrase', { exact: true }).fill(pass);
  await resetLongTasks(page);
  const clicked = Date.now();
  await page.getByRole('button', { name: 'Download' }).click();
  const saved = await downloaded;
  timings.download = Date.now() - clicked;
  return saved;
}

export async function downloadedBytes(d: Download): Promise<Buffer> {
  const path = await d.path();
  return readFileSync(path!);
}

/** Sends a random file of `size` bytes through the main server (from `sender`, else a new
 * page), then flips one bit of its stored ciphertext at the offset `at(ciphertextLength)`
 * returns (in whichever segment object holds that offset); resolves with the link and
 * passphrase. */
export async function sendThenAlter(
  harness: Harness,
  name: string,
  size: number,
  at: (blobLength: number) => number,
  sender?: Page,
): Promise<{ link: string; pass: string }> {
  const file = makeFile(name, size);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  const dataDir = process.env.FERRY_E2E_DATA_DIR!;
  const before = new Set(listFiles(dataDir).map((f) => f.path));
  const link = await send(sender ?? (await harness.openPage()), file.path, pass);
  // The share's segments: `segments/<share id>/<index>`, in index order.
  const segments = listFiles(join(dataDir, 'segments', shareId(link)))
    .filter((f) => !before.has(f.path) && /^\d+$/.test(basename(f.path)))
    .sort((a, b) => Number(basename(a.path)) - Number(basename(b.path)));
  const total = segments.reduce((sum, f) => sum + f.size, 0);
  expect(total, `the share's segments hold ${ciphertextSize(size)} bytes`).toBe(ciphertextSize(size));
  let offset = at(total);
  const target = segments.find((f) => (offset < f.size ? true : ((offset -= f.size), false)))!;
  const bytes = readFileSync(target.path);
  bytes[offset] ^= 0x01;
  writeFileSync(target.path, bytes);
  return { link, pass };
}

export function shareId(link: string): string {
  return new URL(link).pathname.split('/').pop()!;
}
