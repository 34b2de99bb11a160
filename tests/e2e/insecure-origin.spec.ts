// The fallback path end to end: the app opened from an insecure origin (plain http under a
// host name, as on a LAN), where `crypto.subtle` and service workers do not exist, so the
// worker seals and opens chunks with the `aes-gcm` wasm code. Its files must interoperate
// with the WebCrypto path (a normal page on http://127.0.0.1, a secure context) and with
// the CLI, and altered ciphertext must still be refused.
//
// A second Chromium runs with the config's flags plus a host-resolver rule that maps
// `ferry.test` to 127.0.0.1 and makes every other name unresolvable: nothing leaves the
// machine. `http://ferry.test:<port>` is not potentially trustworthy (unlike 127.0.0.1 and
// localhost), so the page is not a secure context.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from '@playwright/test';
import {
  test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, timings,
  sendThenAlter, rebase, type Harness,
} from '../support/fixtures';
import { cliBinary } from '../support/server';
import { ENGINE_SCRIPT, WASM, bulkMs, engines } from '../support/engines';

const run = promisify(execFile);

const INSECURE_HOST = 'ferry.test';
// First matching rule wins: ferry.test goes to loopback, every other name fails to resolve.
const RESOLVER_RULES = `MAP ${INSECURE_HOST} 127.0.0.1, MAP * ~NOTFOUND`;

/** The main server as the secure pages see it (http://127.0.0.1:<port>). */
const secureUrl = () => process.env.FERRY_E2E_URL!;
/** The same server under the mapped host name: an insecure origin. */
const insecureUrl = () => `http://${INSECURE_HOST}:${new URL(secureUrl()).port}`;


let insecureBrowser: Browser;

test.beforeAll(async ({ playwright, launchOptions }) => {
  insecureBrowser = await playwright.chromium.launch({
    ...launchOptions,
    args: [...(launchOptions.args ?? []), `--host-resolver-rules=${RESOLVER_RULES}`],
  });
  // The rules are in force: even the server's own address does not resolve in this browser
  // (an unmapped name would otherwise reach the machine's resolver).
  const context = await insecureBrowser.newContext();
  try {
    const page = await context.newPage();
    await expect(page.goto(`${secureUrl()}/healthz`)).rejects.toThrow(/ERR_NAME_NOT_RESOLVED/);
  } finally {
    await context.close();
  }
});

test.afterAll(async () => {
  await insecureBrowser?.close();
});

/** A person on the insecure origin; checks that WebCrypto and service workers are absent. */
async function insecurePage(harness: Harness): Promise<Page> {
  const page = await harness.openPage(insecureUrl(), { browser: insecureBrowser });
  await page.context().addInitScript(ENGINE_SCRIPT);
  await page.goto('/');
  await expect(page.getByText(/^Files up to/)).toBeVisible();
  const env = await page.evaluate(() => ({
    origin: location.origin,
    secure: window.isSecureContext,
    subtle: typeof crypto.subtle,
    serviceWorker: 'serviceWorker' in navigator,
    getRandomValues: typeof crypto.getRandomValues,
  }));
  expect(env).toEqual({
    origin: insecureUrl(),
    secure: false,
    subtle: 'undefined',
    serviceWorker: false,
    getRandomValues: 'function',
  });
  return page;
}

/** A person on the secure origin (http://127.0.0.1), where WebCrypto exists. */
async function securePage(harness: Harness): Promise<Page> {
  const page = await harness.openPage(secureUrl());
  await page.context().addInitScript(ENGINE_SCRIPT);
  return page;
}

const mibps = (bytes: number, ms: number) => (bytes / 1024 / 1024 / (ms / 1000)).toFixed(1);

test('a file sent from the insecure origin (wasm AES-GCM) is received with WebCrypto', async ({ harness }) => {
  const size = 16 * 1024 * 1024 + 4321;
  const file = makeFile('lan-upload-3b9e.bin', size);
  const pass = passphrase();
  harness.secrets.push(file.marker, 'lan-upload-3b9e', pass);

  const sender = await insecurePage(harness);
  const link = await send(sender, file.path, pass);
  const upload = timings.upload;
  harness.secrets.push(new URL(link).hash.slice(1));
  expect(new URL(link).origin).toBe(insecureUrl());
  expect(await engines(sender)).toEqual([await WASM(sender)]);
  const bulk = await bulkMs(sender);

  const recipient = await securePage(harness);
  await openLink(recipient, rebase(link, secureUrl()));
  expect(await recipient.evaluate(() => window.isSecureContext && typeof crypto.subtle)).toBe('object');
  const saved = await download(recipient, pass);
  expect(await engines(recipient)).toEqual(['webcrypto']);
  expect(saved.suggestedFilename()).toBe('lan-upload-3b9e.bin');
  expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
  const webBulk = await bulkMs(recipient);
  console.log(
    `insecure origin, wasm AES-GCM upload of 16 MiB: click to link ${upload} ms; after Argon2id ${bulk} ms ` +
      `(${mibps(size, bulk)} MiB/s); the WebCrypto download after Argon2id: ${webBulk} ms (${mibps(size, webBulk)} MiB/s)`,
  );
});

test('a file sent with WebCrypto is received on the insecure origin (wasm AES-GCM)', async ({ harness }) => {
  const size = 16 * 1024 * 1024 + 999;
  const file = makeFile('to-the-lan-c41d.bin', size);
  const pass = passphrase();
  harness.secrets.push(file.marker, 'to-the-lan-c41d', pass);

  const sender = await securePage(harness);
  const link = await send(sender, file.path, pass);
  harness.secrets.push(new URL(link).hash.slice(1));
  expect(await engines(sender)).toEqual(['webcrypto']);
  const webBulk = await bulkMs(sender);

  const recipient = await insecurePage(harness);
  await openLink(recipient, rebase(link, insecureUrl()));
  const saved = await download(recipient, pass);
  expect(await engines(recipient)).toEqual([await WASM(recipient)]);
  expect(saved.suggestedFilename()).toBe('to-the-lan-c41d.bin');
  expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
  await expect(recipient.getByText(/Saved “to-the-lan-c41d.bin”/)).toBeVisible();
  const bulk = await bulkMs(recipient);
  console.log(
    `insecure origin, wasm AES-GCM download of 16 MiB: click to saved file ${timings.download} ms; ` +
      `after Argon2id ${bulk} ms (${mibps(size, bulk)} MiB/s); the WebCrypto upload after Argon2id: ${webBulk} ms ` +
      `(${mibps(size, webBulk)} MiB/s)`,
  );
});

test('the insecure origin and the CLI exchange files both ways', async ({ harness }) => {
  // CLI -> insecure origin.
  const fromCli = makeFile('cli-to-lan-0a7f.tar', 2 * 1024 * 1024 + 77);
  const pass = passphrase();
  harness.secrets.push(fromCli.marker, 'cli-to-lan-0a7f', pass);
  const { stdout } = await run(cliBinary(), ['send', fromCli.path, '--server', secureUrl()], {
    env: { ...process.env, FERRY_PASSPHRASE: pass },
  });
  const cliLink = stdout.trim();
  harness.secrets.push(new URL(cliLink).hash.slice(1));
  const recipient = await insecurePage(harness);
  await openLink(recipient, rebase(cliLink, insecureUrl()));
  const saved = await download(recipient, pass);
  expect(await engines(recipient)).toEqual([await WASM(recipient)]);
  expect(saved.suggestedFilename()).toBe('cli-to-lan-0a7f.tar');
  expect((await downloadedBytes(saved)).equals(fromCli.data)).toBe(true);

  // Insecure origin -> CLI (the CLI reaches the same server at 127.0.0.1).
  const toCli = makeFile('lan-to-cli-e2c8.bin', 1024 * 1024 + 555);
  const pass2 = passphrase();
  harness.secrets.push(toCli.marker, 'lan-to-cli-e2c8', pass2);
  const sender = await insecurePage(harness);
  const link = await send(sender, toCli.path, pass2);
  harness.secrets.push(new URL(link).hash.slice(1));
  expect(await engines(sender)).toEqual([await WASM(sender)]);
  const out = mkdtempSync(join(tmpdir(), 'ferry-cli-out-'));
  try {
    await run(cliBinary(), ['receive', rebase(link, secureUrl()), '-o', out], {
      env: { ...process.env, FERRY_PASSPHRASE: pass2 },
    });
    expect(readdirSync(out)).toEqual(['lan-to-cli-e2c8.bin']);
    expect(readFileSync(join(out, 'lan-to-cli-e2c8.bin')).equals(toCli.data)).toBe(true);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('a blob altered on the server is refused on the insecure origin and nothing is saved', async ({ harness }) => {
  // One bit inside the third chunk.
  const { link, pass } = await sendThenAlter(
    harness, 'lan-tamper.bin', 1024 * 1024 + 777, () => 600 * 1024, await insecurePage(harness),
  );
  harness.secrets.push(new URL(link).hash.slice(1));

  const recipient = await insecurePage(harness);
  await openLink(recipient, link);
  let downloads = 0;
  recipient.on('download', () => downloads++);
  await recipient.getByLabel('Passphrase', { exact: true }).fill(pass);
  await recipient.getByRole('button', { name: 'Download' }).click();
  await expect(recipient.getByRole('alert')).toContainText('altered in storage');
  await expect(recipient.getByRole('alert')).toContainText('Nothing was saved');
  expect(await engines(recipient)).toEqual([await WASM(recipient)]);
  await recipient.waitForTimeout(1000);
  expect(downloads).toBe(0);
});
