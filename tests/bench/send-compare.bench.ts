// Ferry's browser download next to Firefox Send's (timvisee/send 3.4.27), in one run, the
// same Chromium binary and flags, both driven over bare CDP (tests/support/cdp.ts): each
// download in a fresh browser, from the click on the page's download button to the file
// saved on disk, sha256-compared with the input. Uploads (through each app's own page) are
// set-up, not measured. Order per size: Send, Ferry, Ferry, Send, to cancel drift. Run by
// scripts/bench-browser-send.sh, which builds and starts both servers and writes the inputs;
// see BENCHMARKS.md. Measurements only: nothing here asserts on time.
//
// Environment (set by the script):
//   FERRY_BENCH_URL      Ferry's server, e.g. http://127.0.0.1:18130
//   FERRY_SEND_URL       Send's server, e.g. http://127.0.0.1:18131
//   FERRY_SEND_INPUTS    the files to move (random bytes), comma-separated
import { test, expect } from '@playwright/test';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cdp } from '../support/cdp';
import { cdpDownload, cdpUpload } from './ferry-pages';
import { clickToSaved, fmt, loadAverage, MiB, settle, sha256 } from './measure';

type App = 'Send' | 'Ferry';

interface Run {
  app: App;
  size: number;
  ok: boolean;
  error?: string;
  /** ms from the click to the saved file. */
  totalMs?: number;
  /** ms from the browser's download start (response headers in) to the saved file. */
  streamMs?: number;
  idle?: number;
  peak?: number;
  /** Each Chromium process's PSS (MiB) at the peak. */
  atPeak?: string;
}

/** An expression for Send's failure: it routes to /error (or /404) when a transfer fails. */
const SEND_ERROR = `/^\\/(error|404)/.test(location.pathname) ? 'Send showed ' + location.pathname : ''`;

/** Uploads `input` through Send's home page (defaults: one download, 24 h); its link. */
async function sendUpload(cdp: Cdp, input: string): Promise<string> {
  const page = await cdp.newPage('');
  try {
    await page.goto(`${process.env.FERRY_SEND_URL}/`);
    await page.waitFor(`!!document.querySelector('#file-upload')`);
    await page.setInputFiles('#file-upload', [input]);
    await page.waitFor(`!!document.querySelector('#upload-btn')`);
    await page.eval(`document.querySelector('#upload-btn').click()`);
    const out = await page.waitFor<{ link?: string; error?: string }>(
      `(() => { const l = document.querySelector('#share-url'); const e = ${SEND_ERROR};
        return l && l.value ? { link: l.value } : e ? { error: e } : null; })()`,
      250,
    );
    if (out.error) throw new Error(`Send upload: ${out.error}`);
    return out.link!;
  } finally {
    await page.close();
  }
}

/** Downloads Send's `link` through its page: the click on "Download" to the saved file. */
async function sendDownload(cdp: Cdp, link: string, size: number, expected: string): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-send-dl-'));
  const page = await cdp.newPage('', dir);
  try {
    await page.goto(link);
    await page.waitFor(`!!document.querySelector('#download-btn')`);
    await settle();
    const { outcome, clicked, end, idle, peak, atPeak } = await clickToSaved(
      cdp.pid,
      page,
      () => page.eval(`document.querySelector('#download-btn').click()`),
      SEND_ERROR,
    );
    let error = outcome.error;
    if (!error && outcome.file) {
      const got = await sha256(join(dir, outcome.file.guid));
      if (got !== expected) error = `the saved file differs (sha256 ${got}, expected ${expected})`;
    }
    const base = { app: 'Send' as const, size, idle, peak, atPeak };
    if (error) return { ...base, ok: false, error };
    return { ...base, ok: true, totalMs: end - clicked, streamMs: outcome.file!.began ? end - outcome.file!.began : undefined };
  } finally {
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Uploads `input` to `app` in one browser, then downloads it in a fresh one. */
async function measure(app: App, input: string, expected: string, chromium: string, args: string[]): Promise<Run> {
  const size = statSync(input).size;
  const uploader = Cdp.launch(chromium, args);
  let link: string;
  try {
    if (app === 'Send') {
      link = await sendUpload(uploader, input);
    } else {
      const up = await cdpUpload(uploader, input, 'webcrypto');
      if (!up.link) return { app, size, ok: false, error: `Ferry upload: ${up.leg.error}` };
      link = up.link;
    }
  } finally {
    await uploader.close();
  }
  const cdp = Cdp.launch(chromium, args);
  try {
    if (app === 'Send') return await sendDownload(cdp, link, size, expected);
    const leg = await cdpDownload(cdp, link, 'webcrypto', expected);
    const { ok, error, totalMs, streamMs, idle, peak, atPeak } = leg;
    return { app, size, ok, error, totalMs, streamMs, idle, peak, atPeak };
  } finally {
    await cdp.close();
  }
}

const rate = (size: number, ms?: number) => (ms ? size / MiB / (ms / 1000) : undefined);
const mean = (xs: (number | undefined)[]) =>
  xs.some((x) => x === undefined) || !xs.length ? undefined : xs.reduce((a, b) => a! + b!, 0)! / xs.length;
const ratio = (a?: number, b?: number) => (a !== undefined && b ? (a / b).toFixed(2) : '–');

function report(runs: Run[], loadBefore: string, loadAfter: string): string {
  const lines = [
    '',
    '| size | app | transfer MiB/s (download start → saved) | click → saved MiB/s | Chromium PSS idle → peak (+Δ) |',
    '|---|---|---:|---:|---|',
  ];
  for (const r of runs) {
    const size = `${(r.size / MiB).toFixed(0)} MiB`;
    const mem =
      r.idle !== undefined && r.peak !== undefined
        ? `${(r.idle / MiB).toFixed(0)} → ${(r.peak / MiB).toFixed(0)} MiB (+${((r.peak - r.idle) / MiB).toFixed(0)})`
        : '–';
    if (!r.ok) {
      lines.push(`| ${size} | ${r.app} | FAILED: ${r.error} | | ${mem} |`);
      continue;
    }
    lines.push(
      `| ${size} | ${r.app} | ${fmt(rate(r.size, r.streamMs))} (${fmt((r.streamMs ?? 0) / 1000, 2)} s) | ` +
        `${fmt(rate(r.size, r.totalMs))} (${fmt((r.totalMs ?? 0) / 1000, 2)} s) | ${mem} |`,
    );
  }
  lines.push(
    '',
    'Means of the runs above, and Ferry / Send (speed: higher is better; memory: lower is better):',
    '',
    '| size | transfer MiB/s Ferry / Send (ratio) | click → saved MiB/s Ferry / Send (ratio) | PSS +Δ MiB Ferry / Send (ratio) |',
    '|---|---|---|---|',
  );
  for (const size of [...new Set(runs.map((r) => r.size))]) {
    const of = (app: App) => runs.filter((r) => r.size === size && r.app === app && r.ok);
    const stat = (app: App) => ({
      transfer: mean(of(app).map((r) => rate(size, r.streamMs))),
      total: mean(of(app).map((r) => rate(size, r.totalMs))),
      delta: mean(of(app).map((r) => (r.peak! - r.idle!) / MiB)),
    });
    const f = stat('Ferry');
    const s = stat('Send');
    lines.push(
      `| ${(size / MiB).toFixed(0)} MiB | ${fmt(f.transfer)} / ${fmt(s.transfer)} (${ratio(f.transfer, s.transfer)}) | ` +
        `${fmt(f.total)} / ${fmt(s.total)} (${ratio(f.total, s.total)}) | ` +
        `${fmt(f.delta)} / ${fmt(s.delta)} (${ratio(f.delta, s.delta)}) |`,
    );
  }
  lines.push('', `load average: ${loadBefore} before, ${loadAfter} after`, '');
  return lines.join('\n');
}

test('Ferry and Firefox Send downloads side by side', async ({ launchOptions }) => {
  test.skip(!process.env.FERRY_SEND_URL, 'run scripts/bench-browser-send.sh');
  const inputs = process.env.FERRY_SEND_INPUTS!.split(',').filter(Boolean);
  const chromium = launchOptions.executablePath!;
  const args = launchOptions.args ?? [];
  const loadBefore = loadAverage();
  const runs: Run[] = [];
  for (const input of inputs) {
    const expected = await sha256(input);
    for (const app of ['Send', 'Ferry', 'Ferry', 'Send'] as App[]) {
      const run = await measure(app, input, expected, chromium, args);
      console.log(`${app} ${(run.size / MiB).toFixed(0)} MiB: ${JSON.stringify(run)}`);
      runs.push(run);
    }
  }
  const loadAfter = loadAverage();
  console.log(report(runs, loadBefore, loadAfter));
  // Wrong bytes or a failed download are bugs, not measurements.
  for (const r of runs) expect(r.error ?? '', `${r.app} ${r.size}`).toBe('');
});
