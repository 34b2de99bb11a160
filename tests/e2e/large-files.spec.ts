// Large files in the browser: downloads stream to disk through the service worker, a 1 GiB
// round trip stays within a memory bound that does not grow with the file, and a download
// altered near its end fails visibly instead of leaving a complete-looking file.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  test, expect, makeFile, passphrase, send, openLink, download, sendThenAlter, CHUNK, LONGTASK_SCRIPT,
} from '../support/fixtures';
import { Cdp, PAGE_ERROR, type CdpPage } from '../support/cdp';
import { chromiumPss, describeChromium, sampleChromium, MiB } from '../support/memory';

/** A random file of `size` bytes written in 1 MiB steps (never whole in memory), with a
 * plaintext marker at the start of every 256 KiB chunk; returns its SHA-256. */
function makeLargeFile(dir: string, name: string, size: number): { path: string; sha256: string; marker: string } {
  const marker = `FERRY-PLAINTEXT-${randomBytes(8).toString('hex')}`;
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  try {
    for (let off = 0; off < size; off += MiB) {
      const block = randomBytes(Math.min(MiB, size - off));
      for (let at = 0; at + marker.length <= block.length; at += CHUNK) block.write(marker, at);
      hash.update(block);
      writeSync(fd, block);
    }
  } finally {
    closeSync(fd);
  }
  return { path, sha256: hash.digest('hex'), marker };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(piece);
  return hash.digest('hex');
}

// A trace would keep every response body of a gigabyte transfer in the browser.
test.use({ trace: 'off' });

const SAVES_BY_STREAM = /saved to your downloads as it is decrypted/;

/** A page's own account of trouble: CSP violations and uncaught errors, and main-thread
 * long tasks (LONGTASK_SCRIPT), for pages driven over bare CDP. */
const WATCH_SCRIPT = `${LONGTASK_SCRIPT}
  window.__ferryErrors = [];
  addEventListener('securitypolicyviolation', (e) => window.__ferryErrors.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));
  addEventListener('error', (e) => window.__ferryErrors.push('error: ' + e.message));
  addEventListener('unhandledrejection', (e) => window.__ferryErrors.push('unhandled: ' + e.reason));
`;

/** Fails with the page's error text, if it shows one, instead of waiting out a timeout. */
async function until<T>(page: CdpPage, expression: string, timeout: number): Promise<T> {
  const v = await page.waitFor<T | { error: string }>(
    `(() => { const v = ${expression}; if (v) return v; const e = ${PAGE_ERROR}; return e ? { error: e } : null; })()`,
    250,
    timeout,
  );
  if (v && typeof v === 'object' && 'error' in v) throw new Error(`the page says: ${v.error}`);
  return v as T;
}

test('a 1 GiB file round-trips through Chromium with memory flat', async ({ harness, launchOptions }) => {
  test.setTimeout(15 * 60_000);
  const size = Number(process.env.FERRY_E2E_LARGE_MIB ?? 1024) * MiB;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-large-'));
  // Its own Chromium (same binary and flags), driven over a bare CDP pipe. Playwright
  // enables the Network domain on every page and worker, so Chromium copies each
  // WebSocket frame to the test as base64 and its browser process queues those messages:
  // 100-400 MiB that came and went with the machine's load, the test's own making rather
  // than the app's (tests/support/cdp.ts).
  const cdp = Cdp.launch(launchOptions.executablePath!, launchOptions.args ?? []);
  try {
    const file = makeLargeFile(dir, 'large.bin', size);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const base = process.env.FERRY_E2E_URL!;

    const sender = await cdp.newPage(WATCH_SCRIPT);
    await sender.goto(`${base}/`);
    await until(sender, `/Files up to/.test(document.body.textContent)`, 30_000);
    await sender.setInputFiles('#file-input', [file.path]);
    await sender.fill('#passphrase', pass);
    await sender.eval(`window.__ferryLongest = 0`);
    const idle = chromiumPss(cdp.pid);
    const idleProcs = describeChromium(cdp.pid);
    let sampler = sampleChromium(250, cdp.pid);
    let started = Date.now();
    await sender.clickButton('Encrypt and upload');
    const link = await until<string>(sender, `document.querySelector('#share-link')?.value`, 10 * 60_000);
    const uploadMs = Date.now() - started;
    const up = sampler.stop();
    harness.secrets.push(new URL(link).hash.slice(1));
    const upLongest = await sender.eval<number>(`window.__ferryLongest`);
    expect(await sender.eval<string[]>(`window.__ferryErrors`)).toEqual([]);
    await sender.close();

    const downloads = join(dir, 'downloads');
    const recipient = await cdp.newPage(WATCH_SCRIPT, downloads);
    await recipient.goto(link);
    await until(recipient, `/A file is waiting for you/.test(document.body.textContent)`, 30_000);
    expect(await recipient.eval<boolean>(`${SAVES_BY_STREAM}.test(document.body.textContent)`)).toBe(true);
    expect(await recipient.eval<boolean>(`/cannot stream to disk/.test(document.body.textContent)`)).toBe(false);
    await recipient.fill('#passphrase', pass);
    await recipient.eval(`window.__ferryLongest = 0`);
    const idle2 = chromiumPss(cdp.pid);
    sampler = sampleChromium(250, cdp.pid);
    started = Date.now();
    const saved = recipient.nextDownload();
    await recipient.clickButton('Download');
    const shown = until<string>(recipient, `document.querySelector('p.saved')?.textContent.includes('Saved “large.bin”')`, 10 * 60_000);
    const { guid, suggestedFilename } = await saved;
    await shown;
    const downloadMs = Date.now() - started;
    const downMem = sampler.stop();
    const downLongest = await recipient.eval<number>(`window.__ferryLongest`);
    expect(await recipient.eval<string[]>(`window.__ferryErrors`)).toEqual([]);
    expect(suggestedFilename).toBe('large.bin');
    expect(await sha256File(join(downloads, guid))).toBe(file.sha256);

    const upDelta = up.peak - idle;
    const downDelta = downMem.peak - idle2;
    const mibps = (ms: number) => (size / MiB / (ms / 1000)).toFixed(0);
    console.log(
      `1 GiB-class round trip (${size / MiB} MiB, bare CDP): Chromium PSS idle ${(idle / MiB).toFixed(0)} MiB; ` +
        `upload peak +${(upDelta / MiB).toFixed(0)} MiB (${up.samples} samples), click to link ${uploadMs} ms ` +
        `(${mibps(uploadMs)} MiB/s), longest main-thread task ${upLongest.toFixed(0)} ms; ` +
        `download peak +${(downDelta / MiB).toFixed(0)} MiB (${downMem.samples} samples), click to saved ` +
        `${downloadMs} ms (${mibps(downloadMs)} MiB/s), longest main-thread task ${downLongest.toFixed(0)} ms` +
        `\n  idle: ${idleProcs}\n  upload peak (MiB): ${up.atPeak}\n  download peak (MiB): ${downMem.atPeak}`,
    );
    // A bound that does not depend on the file size: half of the default 1 GiB file, so a
    // file held whole anywhere in Chromium fails it. Measured here (PSS of every process of
    // this Chromium, 2-core machine): +170-230 MiB up at 1 GiB; down +96-110 MiB since the
    // service worker fetches and opens the file itself (BENCHMARKS.md).
    const bound = 512 * MiB;
    expect(upDelta, 'Chromium memory above idle during the upload').toBeLessThan(bound);
    expect(downDelta, 'Chromium memory above idle during the download').toBeLessThan(bound);
  } finally {
    await cdp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a download altered near its end fails visibly; nothing complete is saved', async ({ harness }) => {
  // Larger than what the page verifies before it starts the browser's download (4 MiB),
  // so the stream has begun when the bad chunk arrives.
  // One bit inside the final chunk.
  const { link, pass } = await sendThenAlter(harness, 'late-tamper.bin', 12 * MiB + 777, (n) => n - 100);

  const recipient = await harness.openPage();
  await openLink(recipient, link);
  await expect(recipient.getByText(SAVES_BY_STREAM)).toBeVisible();
  const saved = await download(recipient, pass);
  await expect(recipient.getByRole('alert')).toContainText('altered in storage');
  await expect(recipient.getByRole('alert')).toContainText('marked failed');
  // The browser's download manager ends it as failed (Playwright says "canceled"): no
  // file is delivered under its name.
  expect(await saved.failure()).not.toBeNull();
  await expect(saved.path()).rejects.toThrow();
  await expect(recipient.getByRole('status')).not.toContainText('Saved');
});

test('cancelling a streaming download fails it in the browser; its claim stays held', async ({ harness }) => {
  const size = 128 * MiB;
  const file = makeFile('cancel.bin', size);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  const link = await send(await harness.openPage(), file.path, pass, { downloads: '3' });
  const recipient = await harness.openPage();
  await openLink(recipient, link);
  // Cancelled as soon as the browser's download starts (after the first 4 MiB opened).
  // The claim stays its claimant's (held once past the first window, else until its
  // lease ends; issue 13: one-time means one-time); the share's other downloads are
  // unaffected.
  const saved = await download(recipient, pass);
  await recipient.getByRole('button', { name: 'Cancel' }).click();
  await expect(recipient.getByRole('alert')).toContainText('cancelled');
  expect(await saved.failure()).not.toBeNull();
  const again = await harness.openPage();
  await openLink(again, link);
  const second = await download(again, pass);
  expect(readFileSync((await second.path())!).equals(file.data)).toBe(true);
});
