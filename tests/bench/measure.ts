// What the browser benchmarks measure besides time: Chromium's memory (PSS, idle and peak
// while a step runs), the saved file's sha256, the machine's load; shared by
// transfer.bench.ts and send-compare.bench.ts.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { chromiumPss, sampleChromium } from '../support/memory';
import type { CdpPage } from '../support/cdp';

export const MB = 1e6;
export const MiB = 1 << 20;

/** PSS of Chromium's processes (tests/support/memory.ts: all this worker started, or
 * `root` and its descendants) idle now, and the peak until `stop`, sampled every 200 ms,
 * with each process's share at the peak (`atPeak`). */
export function memorySampler(root?: number) {
  const idle = chromiumPss(root);
  const sampler = sampleChromium(200, root);
  return {
    idle,
    stop: () => {
      const { peak, atPeak } = sampler.stop();
      return { idle, peak: Math.max(idle, peak), atPeak };
    },
  };
}

/** A pause so memory freed by the previous step can settle before the idle sample. */
export const settle = () => new Promise((r) => setTimeout(r, 1500));

export function sha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 4 * MiB })
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/** The 1, 5 and 15 minute load averages, as `uptime` prints them. */
export const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

export const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '–' : n.toFixed(digits));

/** What a download leg saw from the click: the saved file (or the page's error), when it
 * ended, and Chromium's memory meanwhile. */
export interface Saved {
  outcome: { file?: { guid: string; suggestedFilename: string; began: number }; error?: string };
  clicked: number;
  end: number;
  idle: number;
  peak: number;
  atPeak: string;
}

/** Clicks (`click`), then waits for the browser to save the download or for the page to
 * show an error (`errorExpr`, an expression giving its text), whichever comes first, with
 * Chromium's memory (`pid`) sampled throughout. */
export async function clickToSaved(
  pid: number,
  page: CdpPage,
  click: () => Promise<unknown>,
  errorExpr: string,
): Promise<Saved> {
  const mem = memorySampler(pid);
  const clicked = Date.now();
  const saved = page.nextDownload();
  await click();
  const shown = page
    .waitFor<string>(`(${errorExpr}) || (window.__stop ? 'stopped' : '')`, 250)
    .then((error) => ({ error, file: undefined }))
    // The page closes once the race is decided.
    .catch(() => new Promise<never>(() => {}));
  const outcome = await Promise.race([
    saved.then((file) => ({ file, error: undefined as string | undefined })),
    shown,
  ]).catch((e) => ({ file: undefined, error: String(e) }));
  const end = Date.now();
  await page.eval(`window.__stop = true`).catch(() => {});
  return { outcome, clicked, end, ...mem.stop() };
}
