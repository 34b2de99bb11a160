// The recommended LAN install: ferry-server speaking HTTPS itself (`--tls-cert/--tls-key`)
// under a host name, with a certificate from the install's own CA (tests/fixtures/tls).
// Unlike plain http from another host, that page is a secure context: WebCrypto, the
// streamed download through the service worker, and the CLI (trusting the CA with
// `--ca-cert`) all work against it.
//
// A second Chromium maps `ferry.test` to 127.0.0.1 (every other name fails to resolve) and
// accepts exactly this server certificate by its public key
// (`--ignore-certificate-errors-spki-list`), as a browser that trusts the CA would.
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from '@playwright/test';
import {
  test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, findInDir, rebase,
} from '../support/fixtures';
import { ENGINE_SCRIPT, engines } from '../support/engines';
import { cliBinary, startServer, TEST_PKI, type Server } from '../support/server';

const run = promisify(execFile);
const PORT = 18250;
const HOST = 'ferry.test';
const lanUrl = () => `https://${HOST}:${PORT}`;

/** base64(SHA-256(SubjectPublicKeyInfo)) of the server certificate, as Chromium wants it. */
function spkiHash(): string {
  const cert = new X509Certificate(readFileSync(TEST_PKI.cert));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

let server: Server;
let lanBrowser: Browser;

test.beforeAll(async ({ playwright, launchOptions }) => {
  server = await startServer(PORT, [], {}, { tls: true });
  lanBrowser = await playwright.chromium.launch({
    ...launchOptions,
    args: [
      ...(launchOptions.args ?? []),
      `--host-resolver-rules=MAP ${HOST} 127.0.0.1, MAP * ~NOTFOUND`,
      `--ignore-certificate-errors-spki-list=${spkiHash()}`,
    ],
  });
});

test.afterAll(async () => {
  await lanBrowser?.close();
  await server?.stop();
});

test('an HTTPS install on a LAN host name: a secure context, streamed download, files to and from the CLI', async ({ harness }) => {
  const file = makeFile('lan-tls-51c2.bin', 6 * 1024 * 1024 + 321);
  const pass = passphrase();
  harness.secrets.push(file.marker, 'lan-tls-51c2', pass);

  const sender = await harness.openPage(lanUrl(), { browser: lanBrowser });
  await sender.context().addInitScript(ENGINE_SCRIPT);
  await sender.goto('/');
  await expect(sender.getByText(/^Files up to/)).toBeVisible();
  expect(
    await sender.evaluate(() => ({
      origin: location.origin,
      secure: window.isSecureContext,
      subtle: typeof crypto.subtle,
      serviceWorker: 'serviceWorker' in navigator,
    })),
  ).toEqual({ origin: lanUrl(), secure: true, subtle: 'object', serviceWorker: true });
  const link = await send(sender, file.path, pass, { downloads: '3' });
  harness.secrets.push(new URL(link).hash.slice(1));
  expect(link.startsWith(`${lanUrl()}/s/`)).toBe(true);
  expect(await engines(sender)).toEqual(['webcrypto']);

  // The browser saves it through the service worker, over WSS.
  const recipient = await harness.openPage(lanUrl(), { browser: lanBrowser });
  await recipient.context().addInitScript(ENGINE_SCRIPT);
  await openLink(recipient, link);
  await expect(recipient.getByText(/saved to your downloads as it is decrypted/)).toBeVisible();
  const saved = await download(recipient, pass);
  expect(await engines(recipient)).toEqual(['webcrypto']);
  expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);

  const out = mkdtempSync(join(tmpdir(), 'ferry-cli-tls-'));
  const cliEnv = (p: string) => ({ env: { ...process.env, FERRY_PASSPHRASE: p } });
  try {
    // Browser -> CLI, which reaches the server at 127.0.0.1 (in the certificate too) and
    // trusts the install's CA.
    await run(cliBinary(), ['receive', rebase(link, server.url), '-o', out, '--ca-cert', TEST_PKI.ca], cliEnv(pass));
    expect(readdirSync(out)).toEqual(['lan-tls-51c2.bin']);
    expect(readFileSync(join(out, 'lan-tls-51c2.bin')).equals(file.data)).toBe(true);

    // CLI -> browser.
    const fromCli = makeFile('cli-tls-9d04.bin', 2 * 1024 * 1024 + 99);
    const pass2 = passphrase();
    harness.secrets.push(fromCli.marker, 'cli-tls-9d04', pass2);
    const { stdout } = await run(
      cliBinary(),
      ['send', fromCli.path, '--server', server.url, '--ca-cert', TEST_PKI.ca],
      cliEnv(pass2),
    );
    const cliLink = stdout.trim();
    harness.secrets.push(new URL(cliLink).hash.slice(1));
    const third = await harness.openPage(lanUrl(), { browser: lanBrowser });
    await openLink(third, rebase(cliLink, lanUrl()));
    const saved2 = await download(third, pass2);
    expect(saved2.suggestedFilename()).toBe('cli-tls-9d04.bin');
    expect((await downloadedBytes(saved2)).equals(fromCli.data)).toBe(true);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }

  // This server's storage holds no plaintext, name or passphrase either (the harness
  // checks the main server's).
  for (const secret of harness.secrets) {
    expect(findInDir(server.dataDir, Buffer.from(secret)), `data directory holds "${secret}"`).toBeUndefined();
  }
});
