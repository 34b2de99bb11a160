// Transfers that survive dropped connections: the browser uploads and downloads through
// ferry-faultproxy (tests/README.md "Fault-injecting proxy"), which resets the connection
// three times mid-transfer. The page says it is reconnecting, the file arrives byte for
// byte, and a one-time link counts once.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from '@playwright/test';
import {
  type Frame, test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, rebase, shareId,
  type Harness,
} from '../support/fixtures';
import { ENGINE_SCRIPT, engines } from '../support/engines';
import { RECONNECT_WATCH, startProxy, type Proxy } from '../support/faultproxy';
import { expectCliReceives } from '../support/cli-receive';
import { cliBinary, startServer, type Server } from '../support/server';

const run = promisify(execFile);
const MiB = 1024 * 1024;

// Own servers (18260 and up: see tests/README.md), so the cuts touch nothing else.
let nextPort = 18260;
// The proxy in front of the page without a service worker listens on a port fixed in
// advance: its origin must be on the server's --allowed-origin list.
const NO_SW_PROXY_PORT = 18279;

// A trace would keep every byte of these transfers.
test.use({ trace: 'off' });

/** A random file of `size` bytes sent by the CLI straight to `server`, and its link
 * rebased onto `origin` (a fault proxy's); the file's marker, the passphrase and the
 * link secret go into the secrets the harness looks for. */
async function cliShare(harness: Harness, server: { url: string }, origin: string, name: string, size: number) {
  const file = makeFile(name, size);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  const { stdout } = await run(cliBinary(), ['send', file.path, '--server', server.url], {
    env: { ...process.env, FERRY_PASSPHRASE: pass },
  });
  const link = rebase(stdout.trim(), origin);
  harness.secrets.push(new URL(link).hash.slice(1));
  return { file, pass, link };
}

/** The most WebSockets `page` (its workers included) had open at once, counted from
 * Playwright's events: opened, and closed or failed. */
function watchSockets(page: Page): () => number {
  let open = 0;
  let most = 0;
  page.on('websocket', (ws) => {
    open++;
    most = Math.max(most, open);
    ws.on('close', () => open--);
  });
  return () => most;
}

/** Uploads a random file of `size` bytes from the send page at `query` through three cuts
 * (each of the first three upload connections reset after 8 MiB sent: mid-segment), checks
 * that the page said it was reconnecting and that the CLI, straight from the server, gets
 * exactly the file; resolves with the page, for more checks. `watch` sees the page before
 * it loads. */
async function uploadThroughCuts(
  harness: Harness,
  name: string,
  size: number,
  query: string,
  watch: (page: Page) => void = () => {},
): Promise<Page> {
  const server = await startServer(nextPort++);
  const proxy = await startProxy(server, ['--cut-after', String(8 * MiB), '--direction', 'up', '--max-cuts', '3']);
  try {
    const file = makeFile(name, size);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const sender = await harness.openPage(proxy.url, { recordFrames: false });
    await sender.addInitScript(RECONNECT_WATCH);
    await sender.addInitScript(ENGINE_SCRIPT);
    watch(sender);
    const link = await send(sender, file.path, pass, { query, timeout: 240_000 });
    harness.secrets.push(new URL(link).hash.slice(1));

    expect((await proxy.stats()).cuts, 'the proxy cut three times').toBe(3);
    const shown: string[] = await sender.evaluate(() => (window as any).__ferryReconnecting);
    expect(shown.length, `reconnecting shown: ${JSON.stringify(shown)}`).toBeGreaterThan(0);
    expect(shown.join('\n')).toMatch(/Reconnecting… \(attempt \d of 8\)/);
    await expectCliReceives(link, server.url, pass, name, file.data);
    return sender;
  } finally {
    await proxy.stop();
    await server.stop();
  }
}

test('a browser upload through three dropped connections arrives byte for byte', async ({ harness }) => {
  test.setTimeout(300_000);
  await uploadThroughCuts(harness, 'through-cuts-up.bin', 72 * MiB + 12_345, '');
});

test('a browser download through three dropped connections arrives byte for byte and counts once', async ({
  harness,
}) => {
  test.setTimeout(300_000);
  const server = await startServer(nextPort++);
  // Each of the first three connections is reset after 20 MiB received: past the first
  // window (~16 MiB), so the claim is held and the download resumes inside it.
  const proxy = await startProxy(server, ['--cut-after', String(20 * MiB), '--direction', 'down', '--max-cuts', '3']);
  try {
    const { file, pass, link } = await cliShare(harness, server, proxy.url, 'through-cuts-down.bin', 72 * MiB + 54_321);

    const recipient = await harness.openPage(proxy.url, { recordFrames: false });
    await recipient.addInitScript(RECONNECT_WATCH);
    await openLink(recipient, link);
    const saved = await download(recipient, pass, 240_000);
    expect(saved.suggestedFilename()).toBe('through-cuts-down.bin');
    expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
    await expect(recipient.getByText(/The link is now used up/)).toBeVisible({ timeout: 60_000 });

    expect((await proxy.stats()).cuts, 'the proxy cut three times').toBe(3);
    const shown: string[] = await recipient.evaluate(() => (window as any).__ferryReconnecting);
    expect(shown.length, `reconnecting shown: ${JSON.stringify(shown)}`).toBeGreaterThan(0);
    expect(shown.join('\n')).toMatch(/Reconnecting… \(attempt \d of 8\)/);

    // One download in all: the one-time link is used up, not counted twice or left open.
    const info = await fetch(`${server.url}/api/shares/${shareId(link)}`);
    expect(info.status).toBe(410);
    expect((await info.json()).code).toBe('used-up');
  } finally {
    await proxy.stop();
    await server.stop();
  }
});

test('a download cut inside its first window resumes inside its claim and counts once', async ({ harness }) => {
  const server = await startServer(nextPort++);
  // One cut after 4 MiB received: inside the first window (~16 MiB), before the claim is
  // held. Over HTTP the claim is not released by a cut (docs/PROTOCOL.md, "Download over
  // HTTP"): the service worker asks for the rest under the same claim token.
  const proxy = await startProxy(server, ['--cut-after', String(4 * MiB), '--direction', 'down', '--max-cuts', '1']);
  try {
    const { file, pass, link } = await cliShare(harness, server, proxy.url, 'inside-first-window.bin', 12 * MiB);

    const recipient = await harness.openPage(proxy.url, { recordFrames: false });
    await recipient.addInitScript(RECONNECT_WATCH);
    await openLink(recipient, link);
    const saved = await download(recipient, pass);
    expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
    await expect(recipient.getByText(/The link is now used up/)).toBeVisible();
    expect((await proxy.stats()).cuts).toBe(1);
    const shown: string[] = await recipient.evaluate(() => (window as any).__ferryReconnecting);
    expect(shown.join('\n')).toMatch(/Reconnecting… \(attempt 1 of 8\)/);

    // Counted once: the one-time link is used up.
    const info = await fetch(`${server.url}/api/shares/${shareId(link)}`);
    expect(info.status).toBe(410);
  } finally {
    await proxy.stop();
    await server.stop();
  }
});

// ---- Uploads continued after the tab was reloaded (IndexedDB, SECURITY.md "Resumed uploads") ----

/** Records every text the page's live regions showed (a note may last less than a second). */
const LIVE_WATCH = `
  window.__ferryLive = [];
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('[aria-live]')) {
      const text = el.textContent || '';
      if (text && !window.__ferryLive.includes(text)) window.__ferryLive.push(text);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
`;

/** Everything the page's live regions said since it was loaded. */
async function liveTexts(page: Page): Promise<string> {
  return ((await page.evaluate(() => (window as any).__ferryLive)) as string[]).join('\n');
}

/** Everything the app keeps in IndexedDB (`ferry-uploads`), as text: records as stored (JSON)
 * and seal batches in hex and base64url, for a leak scan. */
async function storedText(page: Page): Promise<string> {
  return page.evaluate(async () => {
    const db: IDBDatabase = await new Promise((resolve, reject) => {
      const req = indexedDB.open('ferry-uploads');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const all = (store: string): Promise<unknown[]> =>
      new Promise((resolve, reject) => {
        const req = db.transaction(store).objectStore(store).getAll();
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    const out: string[] = [];
    for (const v of await all('uploads')) out.push(String(v));
    for (const v of await all('seals')) {
      const bytes = v as Uint8Array;
      out.push(Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''));
      out.push(btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_'));
    }
    db.close();
    return out.join('\n');
  });
}

/** The upload and owner tokens and share ID the server's `ready` gave (frames the harness saw). */
function readyTokens(frames: Frame[]): { upload: string; owner: string; shareId: string } {
  for (const f of frames) {
    if (f.direction !== 'received' || !f.payload.includes('"upload_token"')) continue;
    const ready = JSON.parse(f.payload.toString('utf8'));
    return { upload: ready.upload_token, owner: ready.owner_token, shareId: ready.share_id };
  }
  throw new Error('no `ready` with tokens was seen');
}

/** Starts uploading `path` through `proxy`, takes the proxy down once `cutAt` bytes went up
 * (the page then retries in vain), leaves the page (as a reload or a closed tab does: the
 * page and its worker end) and loads it again: the upload is interrupted with part of it
 * stored on the server. */
async function interruptUpload(page: Page, proxy: Proxy, path: string | string[], pass: string, cutAt: number) {
  await page.goto('/');
  await expect(page.getByText(/^Files up to/)).toBeVisible();
  await page.locator('#file-input').setInputFiles(path);
  await page.getByLabel('Passphrase', { exact: true }).fill(pass);
  await page.getByRole('button', { name: 'Encrypt and upload' }).click();
  // Bounded: 60 s of polls.
  for (let i = 0; ; i++) {
    if ((await proxy.stats()).bytes_up >= cutAt) break;
    expect(i, 'the upload did not get going').toBeLessThan(6_000);
    await new Promise((r) => setTimeout(r, 10));
  }
  await proxy.command('down');
  await expect(page.getByText(/Reconnecting… \(attempt \d of 8\)/)).toBeVisible();
  // The proxy is down, so leave for a blank page rather than reload through it.
  await page.goto('about:blank');
  await proxy.command('up');
  await page.goto('/');
}

/** Runs `body` with a server of its own and a `ferry-faultproxy` with `args` in front of
 * it, and stops both afterwards. */
async function throughProxy(args: string[], body: (server: Server, proxy: Proxy) => Promise<void>) {
  const server = await startServer(nextPort++);
  const proxy = await startProxy(server, args);
  try {
    await body(server, proxy);
  } finally {
    await proxy.stop();
    await server.stop();
  }
}

test('an upload interrupted by a reload continues with the same file and passphrase, sending only the rest', async ({
  harness,
}) => {
  test.setTimeout(300_000);
  await throughProxy([], async (server, proxy) => {
    const file = makeFile('reloaded-upload.bin', 64 * MiB + 4_321);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const page = await harness.openPage(proxy.url);
    await page.addInitScript(LIVE_WATCH);
    await interruptUpload(page, proxy, file.path, pass, 24 * MiB);
    const first = readyTokens(harness.frames);

    // The reloaded page says so, and what it keeps holds no secret in clear.
    await expect(page.getByRole('status').filter({ hasText: 'was interrupted' })).toHaveText(
      /An upload of a file of 64(\.0)? MiB was interrupted\. Choose the same file and type the same passphrase to continue it\./,
    );
    const stored = await storedText(page);
    expect(stored).toContain(first.shareId);
    for (const secret of [first.upload, first.owner, 'reloaded-upload', file.marker, pass]) {
      expect(stored, `IndexedDB holds "${secret}" in clear`).not.toContain(secret);
    }
    for (const token of [first.upload, first.owner]) {
      const hex = Buffer.from(token, 'base64url').toString('hex');
      expect(stored, 'IndexedDB holds a token in clear (hex)').not.toContain(hex);
    }

    // Same file, same passphrase: continued, only the missing part sent, the same link.
    const upBefore = (await proxy.stats()).bytes_up;
    const link = await send(page, file.path, pass, { stay: true, timeout: 120_000 });
    harness.secrets.push(new URL(link).hash.slice(1));
    expect(shareId(link)).toBe(first.shareId);
    const said = await liveTexts(page);
    const already = said.match(/Continuing the interrupted upload: ([\d.]+) MiB of 64(\.0)? MiB were already on the server\./);
    expect(already, said).not.toBeNull();
    expect(Number(already![1]), 'progress starts from what the server had').toBeGreaterThan(0);
    const sentAgain = (await proxy.stats()).bytes_up - upBefore;
    console.log(`[reload resume] ${upBefore} bytes up before the reload, ${sentAgain} after it (file ${file.data.length})`);
    expect(sentAgain, 'the resumed upload sent the whole file again').toBeLessThan(file.data.length - 8 * MiB);

    // The record is gone once committed.
    expect(await storedText(page)).toBe('');
    await expectCliReceives(link, server.url, pass, 'reloaded-upload.bin', file.data);
  });
});

test('an interrupted upload of several files continues only with the same files in the same order', async ({
  harness,
}) => {
  test.setTimeout(300_000);
  await throughProxy([], async (server, proxy) => {
    const a = makeFile('part-a.bin', 30 * MiB + 17);
    const b = makeFile('part-b.bin', 34 * MiB - 17);
    const pass = passphrase();
    harness.secrets.push(a.marker, b.marker, 'part-a', 'part-b', pass);
    const page = await harness.openPage(proxy.url);
    await page.addInitScript(LIVE_WATCH);
    await interruptUpload(page, proxy, [a.path, b.path], pass, 20 * MiB);
    const first = readyTokens(harness.frames);
    await expect(page.getByRole('status').filter({ hasText: 'was interrupted' })).toBeVisible();

    // The same files in another order are another share: not continued.
    const other = await send(page, [b.path, a.path], pass, { stay: true, timeout: 120_000 });
    harness.secrets.push(new URL(other).hash.slice(1));
    expect(shareId(other)).not.toBe(first.shareId);
    expect(await liveTexts(page)).toContain(
      'The interrupted upload was not continued: this is not the file it was sending. A new upload starts instead.',
    );

    // The same selection continues it: the same link, only the rest sent.
    await page.getByRole('button', { name: 'Send another file' }).click();
    const upBefore = (await proxy.stats()).bytes_up;
    const link = await send(page, [a.path, b.path], pass, { stay: true, timeout: 120_000 });
    harness.secrets.push(new URL(link).hash.slice(1));
    expect(shareId(link)).toBe(first.shareId);
    expect(await liveTexts(page)).toMatch(/Continuing the interrupted upload: [\d.]+ MiB of 64 MiB were already on the server\./);
    const sentAgain = (await proxy.stats()).bytes_up - upBefore;
    expect(sentAgain, 'the resumed upload sent everything again').toBeLessThan(64 * MiB - 8 * MiB);
    expect(await storedText(page)).toBe('');

    // Both files arrive, byte for byte, from either share.
    for (const [l, order] of [[link, [a, b]], [other, [b, a]]] as const) {
      const out = mkdtempSync(join(tmpdir(), 'ferry-resume-many-'));
      try {
        await run(cliBinary(), ['receive', rebase(l, server.url), '-o', join(out, 'got')], {
          env: { ...process.env, FERRY_PASSPHRASE: pass },
        });
        expect(readdirSync(join(out, 'got')).sort()).toEqual(['part-a.bin', 'part-b.bin']);
        for (const f of order) expect(readFileSync(join(out, 'got', basename(f.path))).equals(f.data)).toBe(true);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    }
  });
});

test('after a reload, another file of the same size, name and date is not continued: a new upload starts', async ({
  harness,
}) => {
  test.setTimeout(300_000);
  await throughProxy([], async (server, proxy) => {
    const size = 40 * MiB + 99;
    const original = makeFile('same-name.bin', size);
    const other = makeFile('same-name.bin', size);
    // Same modification time too: only the re-sealed chunks can tell them apart.
    const when = new Date('2026-11-30T12:00:00Z');
    utimesSync(original.path, when, when);
    utimesSync(other.path, when, when);
    const pass = passphrase();
    harness.secrets.push(original.marker, other.marker, pass);
    const page = await harness.openPage(proxy.url);
    await page.addInitScript(LIVE_WATCH);
    await interruptUpload(page, proxy, original.path, pass, 16 * MiB);
    const first = readyTokens(harness.frames);
    await expect(page.getByRole('status').filter({ hasText: 'was interrupted' })).toBeVisible();

    const link = await send(page, other.path, pass, { stay: true, timeout: 120_000 });
    const said = await liveTexts(page);
    expect(said).toContain(
      'The interrupted upload was not continued: the file changed since, so it was discarded. A new upload starts instead.',
    );
    expect(said).not.toContain('were already on the server');
    harness.secrets.push(new URL(link).hash.slice(1));
    expect(shareId(link), 'a new share, not the interrupted one').not.toBe(first.shareId);
    expect(await storedText(page)).toBe('');
    await expectCliReceives(link, server.url, pass, 'same-name.bin', other.data);
  });
});

test('after a reload, another passphrase does not continue the upload, whose record stays until discarded', async ({
  harness,
}) => {
  test.setTimeout(300_000);
  await throughProxy([], async (server, proxy) => {
    const file = makeFile('other-passphrase.bin', 32 * MiB + 7);
    const [pass, otherPass] = [passphrase(), passphrase()];
    harness.secrets.push(file.marker, pass, otherPass);
    const page = await harness.openPage(proxy.url);
    await page.addInitScript(LIVE_WATCH);
    await interruptUpload(page, proxy, file.path, pass, 12 * MiB);
    const first = readyTokens(harness.frames);

    const link = await send(page, file.path, otherPass, { stay: true, timeout: 120_000 });
    harness.secrets.push(new URL(link).hash.slice(1));
    expect(shareId(link)).not.toBe(first.shareId);
    expect(await liveTexts(page)).toContain(
      'The interrupted upload was not continued: the passphrase is not the one it used. A new upload starts instead.',
    );
    await expectCliReceives(link, server.url, otherPass, 'other-passphrase.bin', file.data);

    // The interrupted upload is still offered, until the person discards it.
    expect(await storedText(page)).toContain(first.shareId);
    await page.getByRole('button', { name: 'Send another file' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'was interrupted' })).toBeVisible();
    await page.getByRole('button', { name: 'Discard the interrupted upload' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'discarded' })).toHaveText(
      'The interrupted upload was discarded.',
    );
    expect(await storedText(page)).toBe('');
  });
});

test('after a reload, an upload the server no longer has is dropped and a new one starts', async ({ harness }) => {
  test.setTimeout(300_000);
  const port = nextPort++;
  let server = await startServer(port);
  const proxy = await startProxy(server, []);
  try {
    const file = makeFile('server-forgot.bin', 32 * MiB + 3);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const page = await harness.openPage(proxy.url);
    await page.addInitScript(LIVE_WATCH);
    await interruptUpload(page, proxy, file.path, pass, 12 * MiB);
    const first = readyTokens(harness.frames);
    // A server with an empty data directory on the same address: the upload is unknown there.
    await server.stop();
    server = await startServer(port);
    await page.reload();
    await expect(page.getByRole('status').filter({ hasText: 'was interrupted' })).toBeVisible();

    const link = await send(page, file.path, pass, { stay: true, timeout: 120_000 });
    harness.secrets.push(new URL(link).hash.slice(1));
    expect(shareId(link)).not.toBe(first.shareId);
    expect(await liveTexts(page)).toContain(
      'The interrupted upload was not continued: the server no longer has it (expired or removed), so it was discarded. A new upload starts instead.',
    );
    expect(await storedText(page)).toBe('');
    await expectCliReceives(link, server.url, pass, 'server-forgot.bin', file.data);
  } finally {
    await proxy.stop();
    await server.stop();
  }
});

test('a one-thread wasm upload (?aes=wasm-single, one lane) through three dropped connections arrives byte for byte', async ({
  harness,
}) => {
  test.setTimeout(240_000);
  let most = () => 0;
  const sender = await uploadThroughCuts(harness, 'cuts-wasm-single.bin', 32 * MiB + 777, '?aes=wasm-single', (page) => {
    most = watchSockets(page);
  });
  // The engine that seals strictly in order had to go back to the first missing segment.
  expect(await engines(sender)).toEqual(['wasm']);
  console.log(`?aes=wasm-single: at most ${most()} upload socket(s) open at once`);
  expect(most(), 'one lane: one socket at a time').toBe(1);
});

test('a four-lane upload (?lanes=4) through three dropped connections arrives byte for byte', async ({ harness }) => {
  test.setTimeout(240_000);
  let most = () => 0;
  const sender = await uploadThroughCuts(harness, 'cuts-four-lanes.bin', 72 * MiB + 4321, '?lanes=4', (page) => {
    most = watchSockets(page);
  });
  expect(await engines(sender)).toEqual(['webcrypto']);
  console.log(`?lanes=4: at most ${most()} upload sockets open at once`);
  expect(most(), 'several sockets at once').toBeGreaterThan(1);
});

// A page without a service worker: a second Chromium that maps ferry.test to loopback (and
// resolves nothing else) opens the app at http://ferry.test:<proxy port>, not a secure
// context, so the receive page assembles the file as a Blob (insecure-origin.spec.ts).
let insecureBrowser: Browser | undefined;
test.afterAll(async () => {
  await insecureBrowser?.close();
});

test('a download on a page without a service worker (a Blob) through three dropped connections arrives byte for byte', async ({
  harness,
  playwright,
  launchOptions,
}) => {
  test.setTimeout(240_000);
  const origin = `http://ferry.test:${NO_SW_PROXY_PORT}`;
  const server = await startServer(nextPort++, ['--allowed-origin', origin]);
  // Past the first window (~16 MiB), as in the streamed download above.
  const proxy = await startProxy(server, [
    '--listen', `127.0.0.1:${NO_SW_PROXY_PORT}`,
    '--cut-after', String(20 * MiB), '--direction', 'down', '--max-cuts', '3',
  ]);
  try {
    insecureBrowser = await playwright.chromium.launch({
      ...launchOptions,
      args: [...(launchOptions.args ?? []), '--host-resolver-rules=MAP ferry.test 127.0.0.1, MAP * ~NOTFOUND'],
    });
    const { file, pass, link } = await cliShare(harness, server, origin, 'cuts-blob-down.bin', 72 * MiB + 2468);

    const recipient = await harness.openPage(origin, { browser: insecureBrowser, recordFrames: false });
    await recipient.addInitScript(RECONNECT_WATCH);
    await openLink(recipient, link);
    const env = await recipient.evaluate(() => ({
      secure: window.isSecureContext,
      serviceWorker: 'serviceWorker' in navigator,
    }));
    expect(env, 'no service worker here: the download is assembled as a Blob').toEqual({
      secure: false,
      serviceWorker: false,
    });
    const saved = await download(recipient, pass, 200_000);
    expect(saved.suggestedFilename()).toBe('cuts-blob-down.bin');
    expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
    await expect(recipient.getByText(/The link is now used up/)).toBeVisible({ timeout: 60_000 });

    expect((await proxy.stats()).cuts, 'the proxy cut three times').toBe(3);
    const shown: string[] = await recipient.evaluate(() => (window as any).__ferryReconnecting);
    expect(shown.join('\n')).toMatch(/Reconnecting… \(attempt \d of 8\)/);
    const info = await fetch(`${server.url}/api/shares/${shareId(link)}`);
    expect(info.status).toBe(410);
    expect((await info.json()).code).toBe('used-up');
  } finally {
    await proxy.stop();
    await server.stop();
  }
});
