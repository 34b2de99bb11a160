// Transfers that survive dropped connections: the browser uploads and downloads through
// ferry-faultproxy (tests/README.md "Fault-injecting proxy"), which resets the connection
// three times mid-transfer. The page says it is reconnecting, the file arrives byte for
// byte, and a one-time link counts once.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from '@playwright/test';
import {
  test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, rebase, shareId,
  type Harness,
} from '../support/fixtures';
import { ENGINE_SCRIPT, engines } from '../support/engines';
import { RECONNECT_WATCH, startProxy } from '../support/faultproxy';
import { cliBinary, startServer } from '../support/server';

const run = promisify(execFile);
const MiB = 1024 * 1024;

// Own servers (18260 and up: see tests/README.md), so the cuts touch nothing else.
let nextPort = 18260;
// The proxy in front of the page without a service worker listens on a port fixed in
// advance: its origin must be on the server's --allowed-origin list.
const NO_SW_PROXY_PORT = 18279;

// A trace would keep every byte of these transfers.
test.use({ trace: 'off' });

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
    const out = mkdtempSync(join(tmpdir(), 'ferry-cli-out-'));
    try {
      await run(cliBinary(), ['receive', rebase(link, server.url), '-o', out], {
        env: { ...process.env, FERRY_PASSPHRASE: pass },
        maxBuffer: 16 * MiB,
      });
      expect(readdirSync(out)).toEqual([name]);
      expect(readFileSync(join(out, name)).equals(file.data)).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
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
    const file = makeFile('through-cuts-down.bin', 72 * MiB + 54_321);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const { stdout } = await run(cliBinary(), ['send', file.path, '--server', server.url], {
      env: { ...process.env, FERRY_PASSPHRASE: pass },
    });
    const link = rebase(stdout.trim(), proxy.url);
    harness.secrets.push(new URL(link).hash.slice(1));

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

test('a download cut inside its first window cannot resume: it fails visibly and counts nothing', async ({
  harness,
}) => {
  const server = await startServer(nextPort++);
  // One cut after 4 MiB received: inside the first window (~16 MiB), so the server
  // releases the claim at once and the resumed start is answered `claim-lost`.
  const proxy = await startProxy(server, ['--cut-after', String(4 * MiB), '--direction', 'down', '--max-cuts', '1']);
  try {
    const file = makeFile('claim-released.bin', 12 * MiB);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const { stdout } = await run(cliBinary(), ['send', file.path, '--server', server.url], {
      env: { ...process.env, FERRY_PASSPHRASE: pass },
    });
    const link = rebase(stdout.trim(), proxy.url);
    harness.secrets.push(new URL(link).hash.slice(1));

    const recipient = await harness.openPage(proxy.url, { recordFrames: false });
    await recipient.addInitScript(RECONNECT_WATCH);
    await openLink(recipient, link);
    await recipient.getByLabel('Passphrase', { exact: true }).fill(pass);
    await recipient.getByRole('button', { name: 'Download' }).click();
    await expect(recipient.getByRole('alert')).toContainText('the server ended this download');
    expect((await proxy.stats()).cuts).toBe(1);
    const shown: string[] = await recipient.evaluate(() => (window as any).__ferryReconnecting);
    expect(shown.join('\n')).toMatch(/Reconnecting… \(attempt 1 of 8\)/);

    // Released, not counted: the link still allows its one download.
    const info = await (await fetch(`${server.url}/api/shares/${shareId(link)}`)).json();
    expect(info.downloads_left).toBe(1);
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
    const file = makeFile('cuts-blob-down.bin', 72 * MiB + 2468);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const { stdout } = await run(cliBinary(), ['send', file.path, '--server', server.url], {
      env: { ...process.env, FERRY_PASSPHRASE: pass },
    });
    const link = rebase(stdout.trim(), origin);
    harness.secrets.push(new URL(link).hash.slice(1));

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
