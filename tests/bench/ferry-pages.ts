// Ferry's send and receive pages in the browser benchmarks: the in-page instruments, and
// one upload and one download driven over a bare CDP pipe (no Network domain: see
// tests/support/cdp.ts); shared by transfer.bench.ts and send-compare.bench.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cdp, PAGE_ERROR } from '../support/cdp';
import { clickToSaved, memorySampler, settle, sha256 } from './measure';

// ---------------------------------------------------------------- in-page instruments

// Worst main-thread long task (reset before each click), and when each phase's text first
// appears (performance.timeOrigin + now, i.e. epoch milliseconds, comparable with Date.now()
// in this process).
export const PAGE_SCRIPT = `
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

export interface Marks {
  keys?: number;
  connecting?: number;
  transferring?: number;
  finishing?: number;
  link?: number;
  saved?: number;
}

export interface Leg {
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
  /** ms from the browser's download start (its response headers) to the saved file; CDP
   * downloads only. */
  streamMs?: number;
  idle?: number;
  peak?: number;
  /** Each Chromium process's PSS (MiB) at the peak. */
  atPeak?: string;
  longest?: number;
  /** The engine as the page names it ("wasm, 2 workers"). */
  label?: string;
}

export const PASSPHRASE = 'benchmark passphrase, not a secret';

/**
 * The page query for an engine name: "webcrypto" or "wasm", optionally with the upload's
 * number of sockets, as in "webcrypto/lanes=4".
 */
export function engineQuery(engine: string): string {
  const [aes, lanes] = engine.split('/');
  const params = [aes === 'wasm' ? 'aes=wasm' : '', lanes ?? ''].filter(Boolean);
  return params.length ? `?${params.join('&')}` : '';
}

export async function cdpUpload(cdp: Cdp, input: string, engine: string): Promise<{ leg: Leg; link?: string }> {
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

export async function cdpDownload(cdp: Cdp, link: string, engine: string, expected: string): Promise<Leg> {
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
    const { outcome, clicked, end, idle, peak, atPeak } = await clickToSaved(
      cdp.pid,
      page,
      () => page.clickButton('Download'),
      PAGE_ERROR,
    );
    const m: Marks = await page.eval(`window.__bench.marks`);
    const longest: number = await page.eval(`window.__bench.longest`);
    const label: string | undefined = await page.eval(`window.__bench.label`);
    const base = { direction: 'download' as const, engine, driver: 'cdp', idle, peak, atPeak, longest, label };
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
      streamMs: outcome.file?.began ? end - outcome.file.began : undefined,
    };
  } finally {
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

