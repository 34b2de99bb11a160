// Transfers that survive dropped connections: the browser uploads and downloads through
// ferry-faultproxy (tests/README.md "Fault-injecting proxy"), which resets the connection
// three times mid-transfer. The page says it is reconnecting, the file arrives byte for
// byte, and a one-time link counts once.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, rebase, shareId,
} from '../support/fixtures';
import { RECONNECT_WATCH, startProxy } from '../support/faultproxy';
import { cliBinary, startServer } from '../support/server';

const run = promisify(execFile);
const MiB = 1024 * 1024;

// Own servers (18260 and up: see tests/README.md), so the cuts touch nothing else.
let nextPort = 18260;

// A trace would keep every byte of these transfers.
test.use({ trace: 'off' });

test('a browser upload through three dropped connections arrives byte for byte', async ({ harness }) => {
  test.setTimeout(300_000);
  const server = await startServer(nextPort++);
  // Each of the first three upload connections is reset after 8 MiB sent: mid-segment.
  const proxy = await startProxy(server, ['--cut-after', String(8 * MiB), '--direction', 'up', '--max-cuts', '3']);
  try {
    const file = makeFile('through-cuts-up.bin', 72 * MiB + 12_345);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const sender = await harness.openPage(proxy.url, { recordFrames: false });
    await sender.addInitScript(RECONNECT_WATCH);
    const link = await send(sender, file.path, pass, { timeout: 240_000 });
    harness.secrets.push(new URL(link).hash.slice(1));

    expect((await proxy.stats()).cuts, 'the proxy cut three times').toBe(3);
    const shown: string[] = await sender.evaluate(() => (window as any).__ferryReconnecting);
    expect(shown.length, `reconnecting shown: ${JSON.stringify(shown)}`).toBeGreaterThan(0);
    expect(shown.join('\n')).toMatch(/Reconnecting… \(attempt \d of 8\)/);

    // The CLI, straight from the server, gets exactly the file.
    const out = mkdtempSync(join(tmpdir(), 'ferry-cli-out-'));
    try {
      await run(cliBinary(), ['receive', rebase(link, server.url), '-o', out], {
        env: { ...process.env, FERRY_PASSPHRASE: pass },
        maxBuffer: 16 * MiB,
      });
      expect(readdirSync(out)).toEqual(['through-cuts-up.bin']);
      expect(readFileSync(join(out, 'through-cuts-up.bin')).equals(file.data)).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  } finally {
    await proxy.stop();
    await server.stop();
  }
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

