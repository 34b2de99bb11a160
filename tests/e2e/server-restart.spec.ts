// An upload whose server dies mid-transfer (SIGKILL: no shutdown, nothing flushed on the
// way out) and comes back on the same port and data directory completes by itself, from the
// browser and from the CLI, and the link then downloads byte for byte. The client reaches
// the server through ferry-faultproxy passing everything through, only to count the bytes
// it sends: after the restart it must send less than the whole ciphertext, so the segments
// stored before the crash were kept and not sent again.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  test, expect, makeFile, passphrase, send, rebase, ciphertextSize, findInDir, listFiles,
} from '../support/fixtures';
import { RECONNECT_WATCH, startProxy, type Proxy } from '../support/faultproxy';
import { expectCliReceives } from '../support/cli-receive';
import { startCli, type CliRun } from '../support/cli-run';
import { startServer, type Server } from '../support/server';

const MiB = 1024 * 1024;

// Own servers (18960 and up: see tests/README.md), so the crashes touch nothing else.
let nextPort = 18960;

// A trace would keep every byte of these transfers.
test.use({ trace: 'off' });

/** Segments to see stored before the crash: 3 of the 16 of an 80 MiB upload (20 chunks,
 * about 5 MiB each), so well over a segment's worth must not be sent again. */
const STORED_BEFORE_CRASH = 3;

/** The segment objects in `dataDir` (`segments/<share id>/<index>`). */
const storedSegments = (dataDir: string) =>
  listFiles(join(dataDir, 'segments')).filter((f) => /^\d+$/.test(basename(f.path)));

interface Restarted {
  /** The new server, on the old one's port and data directory. */
  server: Server;
  /** Bytes the proxy had forwarded to the server when the old one was gone. */
  upAtCrash: number;
  /** Segments stored when the old server was gone. */
  segmentsAtCrash: number;
}

/** Once `server` has stored [`STORED_BEFORE_CRASH`] segments, kills it with SIGKILL and
 * starts a new one on the same port and data directory (calling `whileDown` in between,
 * when the upload cannot have finished). Polls the directory every 20 ms while
 * `uploading()` says the client still runs, for at most 120 s. */
async function crashOnceStored(
  server: Server,
  proxy: Proxy,
  uploading: () => boolean,
  whileDown: () => void = () => {},
): Promise<Restarted> {
  const deadline = Date.now() + 120_000;
  while (storedSegments(server.dataDir).length < STORED_BEFORE_CRASH) {
    if (!uploading()) throw new Error('the upload ended before the server was killed');
    if (Date.now() > deadline) throw new Error(`no ${STORED_BEFORE_CRASH} segments stored within 120 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const killed = Date.now();
  await server.crash();
  const upAtCrash = (await proxy.stats()).bytes_up;
  const segmentsAtCrash = storedSegments(server.dataDir).length;
  whileDown();
  const restarted = await startServer(server.port, [], {}, { dataDir: server.dataDir });
  // A figure, not an assertion: the clients' retries (CLI about 16 s, browser about 40 s)
  // must outlast it.
  console.log(`SIGKILL to the new server's /healthz: ${Date.now() - killed} ms`);
  return { server: restarted, upAtCrash, segmentsAtCrash };
}

/** What the proxy forwarded after the crash, which must be less than the ciphertext. */
async function checkNotSentTwice(proxy: Proxy, restart: Restarted, size: number, who: string): Promise<void> {
  const upAfter = (await proxy.stats()).bytes_up - restart.upAtCrash;
  const ciphertext = ciphertextSize(size);
  console.log(
    `${who}: server killed with ${restart.segmentsAtCrash} segments stored, after ${(restart.upAtCrash / MiB).toFixed(1)} MiB ` +
      `forwarded; after the restart ${(upAfter / MiB).toFixed(1)} MiB of the ${(ciphertext / MiB).toFixed(1)} MiB ciphertext`,
  );
  expect(upAfter, 'bytes sent after the restart: the stored segments were not sent again').toBeLessThan(ciphertext);
}

/** No file the servers wrote holds any of `secrets`. */
function expectNoSecrets(dataDir: string, secrets: string[]): void {
  for (const secret of secrets) {
    expect(findInDir(dataDir, Buffer.from(secret, 'utf8')), `the data directory holds "${secret}"`).toBeUndefined();
  }
}

test('a browser upload completes by itself after its server is killed (SIGKILL) and restarted', async ({
  harness,
}) => {
  test.setTimeout(240_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-restart-'));
  let server = await startServer(nextPort++, [], {}, { dataDir });
  const proxy = await startProxy(server, []);
  try {
    const size = 80 * MiB + 4321;
    const file = makeFile('restart-up.bin', size);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const sender = await harness.openPage(proxy.url, { recordFrames: false });
    await sender.addInitScript(RECONNECT_WATCH);
    let uploading = true;
    const linked = send(sender, file.path, pass, { timeout: 200_000 }).finally(() => (uploading = false));
    linked.catch(() => {}); // awaited below; this only keeps a failure from going unhandled meanwhile
    const restart = await crashOnceStored(server, proxy, () => uploading);
    server = restart.server;
    const link = await linked;
    harness.secrets.push(new URL(link).hash.slice(1));

    const shown: string[] = await sender.evaluate(() => (window as any).__ferryReconnecting);
    expect(shown.join('\n')).toMatch(/Reconnecting… \(attempt \d of 8\)/);
    console.log(`browser: the page said ${JSON.stringify(shown)}`);
    await checkNotSentTwice(proxy, restart, size, 'browser');
    await expectCliReceives(link, server.url, pass, 'restart-up.bin', file.data);
    expectNoSecrets(dataDir, [file.marker, pass, new URL(link).hash.slice(1)]);
  } finally {
    await proxy.stop();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// `harness` only for its cleanup (makeFile's files) and its checks of the main server.
test('a CLI upload completes by itself after its server is killed (SIGKILL) and restarted', async ({ harness }) => {
  test.setTimeout(240_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-restart-'));
  // mkdtemp makes it 0700, as the CLI requires of its state directory.
  const stateDir = mkdtempSync(join(tmpdir(), 'ferry-state-'));
  let server = await startServer(nextPort++, [], {}, { dataDir });
  const proxy = await startProxy(server, []);
  let cli: CliRun | undefined;
  try {
    const size = 80 * MiB + 999;
    const file = makeFile('restart-cli.bin', size);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const running = startCli(['send', file.path, '--server', proxy.url], {
      FERRY_PASSPHRASE: pass,
      FERRY_STATE_DIR: stateDir,
    });
    cli = running;
    const stateFiles = () => readdirSync(stateDir).filter((f) => f.startsWith('send-')).sort();
    const restart = await crashOnceStored(server, proxy, running.running, () => {
      // What a later run would resume from is on disk while the server is gone.
      expect(stateFiles().map((f) => f.replace(/^send-[^.]+/, 'send-<key>'))).toEqual([
        'send-<key>.json',
        'send-<key>.seals',
      ]);
    });
    server = restart.server;
    expect(await running.exited, `ferry send failed:\n${running.stderr()}`).toBe(0);
    const link = running.stdout().trim();
    expect(link).toMatch(/\/s\/[A-Za-z0-9_-]+#[A-Za-z0-9_-]{22}$/);
    // It said it lost the connection and went on by itself.
    expect(running.stderr()).toMatch(/reconnecting in/);
    // Done, so nothing is left to resume: its state files are gone.
    expect(stateFiles()).toEqual([]);

    await checkNotSentTwice(proxy, restart, size, 'CLI');
    await expectCliReceives(link, server.url, pass, 'restart-cli.bin', file.data);
    expectNoSecrets(dataDir, [file.marker, pass, new URL(link).hash.slice(1)]);
  } finally {
    cli?.kill();
    await proxy.stop();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  }
});
