// Transfers that survive dropped connections: the browser uploads and downloads through
// ferry-faultproxy (tests/README.md "Fault-injecting proxy"), which resets the connection
// three times mid-transfer. The page says it is reconnecting, the file arrives byte for
// byte, and a one-time link counts once.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import {
  test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, rebase, shareId,
} from '../support/fixtures';
import { cliBinary, repoRoot, startServer, type Server } from '../support/server';

const run = promisify(execFile);
const MiB = 1024 * 1024;

// Own servers (18260 and up: see tests/README.md), so the cuts touch nothing else.
let nextPort = 18260;

// A trace would keep every byte of these transfers.
test.use({ trace: 'off' });

interface Proxy {
  url: string;
  /** The proxy's counters (`stats` on its stdin). */
  stats: () => Promise<{ connections: number; cuts: number }>;
  stop: () => Promise<void>;
}

function faultproxyBinary(): string {
  return process.env.FERRY_FAULTPROXY_BIN ?? join(repoRoot, 'target', 'debug', 'ferry-faultproxy');
}

/** Starts ferry-faultproxy on 127.0.0.1 in front of `server` with `args`. */
async function startProxy(server: Server, args: string[]): Promise<Proxy> {
  const child: ChildProcess = spawn(faultproxyBinary(), ['--upstream', `127.0.0.1:${server.port}`, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  const queued: string[] = [];
  lines.on('line', (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else queued.push(line);
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const queuedLine = queued.shift();
      if (queuedLine !== undefined) return resolve(queuedLine);
      const timer = setTimeout(() => reject(new Error('ferry-faultproxy did not answer within 10 s')), 10_000);
      waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  const address = await nextLine();
  expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
  return {
    url: `http://${address}`,
    stats: async () => {
      child.stdin!.write('stats\n');
      return JSON.parse(await nextLine());
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Records every status line the page announces (its live regions) that says it is
 * reconnecting: a pause lasts only about a second, too short to catch by polling. */
const RECONNECT_WATCH = `
  window.__ferryReconnecting = [];
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('[aria-live]')) {
      const text = el.textContent || '';
      if (/Reconnecting/.test(text) && !window.__ferryReconnecting.includes(text)) window.__ferryReconnecting.push(text);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
`;

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
