// What the browser benchmarks measure besides time: Chromium's memory (PSS, idle and peak
// while a step runs), the saved file's sha256, the machine's load; shared by
// transfer.bench.ts and send-compare.bench.ts.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { chromiumPss, sampleChromium } from '../support/memory';

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
