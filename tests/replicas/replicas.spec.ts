// Ferry on more than one machine: two ferry-server replicas sharing one PostgreSQL
// database and one S3 bucket (s3s-fs, SigV4 checked) behind HAProxy running
// docs/haproxy.cfg, every request spread round robin with no stickiness. Through the load
// balancer: browser and CLI round trips; an upload whose replica is killed (SIGKILL) at
// about 40 % continues on the other; eight downloaders racing for a one-time link, one
// complete file; a download whose replica is killed continues on the other and counts
// once. The bucket's objects, the database's tables and the replicas' logs hold no
// plaintext, file name, passphrase or link secret.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import {
  test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, listFiles, shareId,
  type Harness,
} from '../support/fixtures';
import { expectCliReceives } from '../support/cli-receive';
import { busiestReplica, startRig, type Rig } from '../support/replicas';
import { startCli } from '../support/cli-run';
import { cliBinary } from '../support/server';

const run = promisify(execFile);
const MiB = 1024 * 1024;
// Ports of their own (tests/README.md): HAProxy and the two replicas.
const LB_PORT = 19100;
const REPLICA_PORTS: [number, number] = [19101, 19102];

let rig: Rig;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  rig = await startRig(LB_PORT, REPLICA_PORTS);
  // The harness opens pages on this address and scans this directory for the secrets.
  process.env.FERRY_E2E_URL = rig.url;
  mkdirSync(rig.bucketDir, { recursive: true });
  process.env.FERRY_E2E_DATA_DIR = rig.bucketDir;
});

test.afterAll(async () => {
  await rig?.stop();
});

/** `ferry send` of a new random file through the load balancer; the secrets are noted. */
async function cliSend(harness: Harness, name: string, size: number, args: string[] = []) {
  const file = makeFile(name, size);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass, name);
  const { stdout } = await run(cliBinary(), ['send', file.path, '--server', rig.url, ...args], {
    env: { ...process.env, FERRY_PASSPHRASE: pass },
  });
  const link = stdout.trim();
  harness.secrets.push(new URL(link).hash.slice(1));
  return { file, pass, link };
}

/** The share's public information through the load balancer (status and body). */
async function info(link: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${rig.url}/api/shares/${shareId(link)}`);
  return { status: res.status, body: await res.json() };
}

/** `secret` as it could appear in the database's dump: as text, or inside a bytea
 * column, which pg_dump writes as hex. */
function forms(secret: string): string[] {
  return [secret, Buffer.from(secret, 'utf8').toString('hex')];
}

/** Neither the database nor the replicas' logs hold any of `secrets` (the harness scans
 * the bucket and every WebSocket frame itself). */
async function expectNoSecretsInDatabaseOrLogs(secrets: string[]) {
  const { stdout: dump } = await run('pg_dump', ['--data-only', rig.databaseUrl], { maxBuffer: 256 << 20 });
  expect(dump, 'the dump lists the shares table').toContain('shares');
  const logs = rig.logs();
  for (const secret of secrets) {
    for (const form of forms(secret)) expect(dump.includes(form), `the database holds "${secret}"`).toBe(false);
    expect(logs.includes(secret), `a replica's log holds "${secret}"`).toBe(false);
  }
}

test('browser and CLI round trips through the load balancer', async ({ harness }) => {
  // Browser to browser.
  const file = makeFile('lb-browser.bin', 6 * MiB + 17);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass, 'lb-browser.bin');
  const link = await send(await harness.openPage(), file.path, pass, { downloads: '3' });
  harness.secrets.push(new URL(link).hash.slice(1));
  expect(new URL(link).origin).toBe(rig.url);
  const receiver = await harness.openPage();
  await openLink(receiver, link);
  const saved = await download(receiver, pass);
  expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
  // Browser to CLI: the second download of the same link, each counted once.
  await expectCliReceives(link, rig.url, pass, 'lb-browser.bin', file.data);
  expect((await info(link)).body.downloads_left).toBe(1);

  // CLI to browser.
  const sent = await cliSend(harness, 'lb-cli.bin', 3 * MiB + 5);
  const page = await harness.openPage();
  await openLink(page, sent.link);
  expect((await downloadedBytes(await download(page, sent.pass))).equals(sent.file.data)).toBe(true);

  await expectNoSecretsInDatabaseOrLogs(harness.secrets);
});

/** Segment objects stored so far in the bucket, over every share. */
const storedSegments = () => listFiles(join(rig.bucketDir, 'segments')).filter((f) => /^\d+$/.test(basename(f.path)));

test('an upload whose replica is killed at 40 % continues on the other one', async ({ harness }) => {
  const size = 80 * MiB + 4321;
  const file = makeFile('lb-killed-up.bin', size);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass, 'lb-killed-up.bin');
  const stateDir = mkdtempSync(join(tmpdir(), 'ferry-state-'));
  const before = storedSegments().length;
  // One lane: the whole upload on one replica until it dies. 80 MiB is 16 segments.
  const cli = startCli(['send', file.path, '--server', rig.url, '--lanes', '1'], {
    FERRY_PASSPHRASE: pass,
    FERRY_STATE_DIR: stateDir,
  });
  try {
    const deadline = Date.now() + 120_000;
    while (storedSegments().length - before < 7) {
      if (!cli.running()) throw new Error(`the upload ended before 40 %:\n${cli.stderr()}`);
      if (Date.now() > deadline) throw new Error('40 % not stored within 120 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const victim = await busiestReplica(REPLICA_PORTS, 'received');
    await rig.crash(victim);
    console.log(`killed replica ${victim} with ${storedSegments().length - before} of 16 segments stored`);
    expect(await cli.exited, `ferry send failed:\n${cli.stderr()}`).toBe(0);
    expect(cli.stderr()).toMatch(/reconnecting in/);
    const link = cli.stdout().trim();
    harness.secrets.push(new URL(link).hash.slice(1));
    await rig.restart(victim);
    await expectCliReceives(link, rig.url, pass, 'lb-killed-up.bin', file.data);
  } finally {
    cli.kill();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('eight downloaders race for a one-time link across both replicas: one complete file', async ({ harness }) => {
  const sent = await cliSend(harness, 'lb-race.bin', 4 * MiB + 1);
  const outs = Array.from({ length: 8 }, () => mkdtempSync(join(tmpdir(), 'ferry-race-')));
  try {
    const results = await Promise.all(
      outs.map((out) =>
        run(cliBinary(), ['receive', sent.link, '-o', out], { env: { ...process.env, FERRY_PASSPHRASE: sent.pass } }).then(
          () => ({ ok: true, stderr: '' }),
          (e) => ({ ok: false, stderr: String(e.stderr) }),
        ),
      ),
    );
    const winners = outs.filter((_, i) => results[i].ok);
    expect(winners.length, results.map((r) => r.stderr).join('\n---\n')).toBe(1);
    expect(readFileSync(join(winners[0], 'lb-race.bin')).equals(sent.file.data)).toBe(true);
    for (const [i, r] of results.entries()) {
      if (r.ok) continue;
      // A clear refusal, and nothing saved under the file's name.
      expect(r.stderr).toMatch(/being downloaded|no downloads left|used up|already been downloaded|not found/i);
      expect(readdirSync(outs[i]).filter((n) => !n.startsWith('.'))).toEqual([]);
    }
    expect((await info(sent.link)).status).toBe(410);
  } finally {
    for (const out of outs) rmSync(out, { recursive: true, force: true });
  }
});

test('a download whose replica is killed continues on the other and counts once', async ({ harness }) => {
  const sent = await cliSend(harness, 'lb-killed-down.bin', 64 * MiB + 99, ['--downloads', '2']);
  const out = mkdtempSync(join(tmpdir(), 'ferry-down-'));
  const cli = startCli(['receive', sent.link, '-o', out], { FERRY_PASSPHRASE: sent.pass });
  try {
    // Past the first window (the claim is held), about a third of the way.
    const partial = () => listFiles(out).reduce((sum, f) => sum + f.size, 0);
    const deadline = Date.now() + 120_000;
    while (partial() < 20 * MiB) {
      if (!cli.running()) throw new Error(`the download ended before it was cut:\n${cli.stderr()}`);
      if (Date.now() > deadline) throw new Error('20 MiB not received within 120 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const victim = await busiestReplica(REPLICA_PORTS, 'sent');
    await rig.crash(victim);
    console.log(`killed replica ${victim} with ${(partial() / MiB).toFixed(1)} MiB received`);
    expect(await cli.exited, `ferry receive failed:\n${cli.stderr()}`).toBe(0);
    expect(cli.stderr()).toMatch(/reconnecting in/);
    expect(readFileSync(join(out, 'lb-killed-down.bin')).equals(sent.file.data)).toBe(true);
    await rig.restart(victim);
    // Counted once: one of the two downloads is left.
    const { status, body } = await info(sent.link);
    expect(status).toBe(200);
    expect(body.downloads_left).toBe(1);
  } finally {
    cli.kill();
    rmSync(out, { recursive: true, force: true });
  }
});
