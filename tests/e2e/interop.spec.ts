// Interoperability between the browser and the `ferry` CLI, both directions, through the
// real server: the two clients share one format and one protocol.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes } from '../support/fixtures';
import { cliBinary } from '../support/server';

const run = promisify(execFile);


test('a file sent by the CLI is received in the browser byte for byte', async ({ harness }) => {
  const file = makeFile('from-terminal-91c2.tar', 1024 * 1024 + 333);
  const pass = passphrase();
  harness.secrets.push(file.marker, 'from-terminal-91c2', pass);
  const { stdout } = await run(cliBinary(), ['send', file.path, '--server', process.env.FERRY_E2E_URL!], {
    env: { ...process.env, FERRY_PASSPHRASE: pass },
  });
  const link = stdout.trim();
  harness.secrets.push(new URL(link).hash.slice(1));
  expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/s\/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{22}$/);

  const recipient = await harness.openPage();
  await openLink(recipient, link);
  const saved = await download(recipient, pass);
  expect(saved.suggestedFilename()).toBe('from-terminal-91c2.tar');
  expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
});

test('a file sent from the browser is received by the CLI byte for byte', async ({ harness }) => {
  const file = makeFile('from-browser-5d0e.bin', 700_000);
  const pass = passphrase();
  harness.secrets.push(file.marker, 'from-browser-5d0e', pass);
  const link = await send(await harness.openPage(), file.path, pass);
  harness.secrets.push(new URL(link).hash.slice(1));

  const out = mkdtempSync(join(tmpdir(), 'ferry-cli-out-'));
  try {
    await run(cliBinary(), ['receive', link, '-o', out], { env: { ...process.env, FERRY_PASSPHRASE: pass } });
    expect(readdirSync(out)).toEqual(['from-browser-5d0e.bin']);
    expect(readFileSync(join(out, 'from-browser-5d0e.bin')).equals(file.data)).toBe(true);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
