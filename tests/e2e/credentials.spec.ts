// Upload credentials in the web app: a server started with `--upload-access credential`
// admits uploads only with an upload token (made by `ferry-server admin token create`) or an
// invitation link a token holder made in the page. Each test starts its own server.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import {
  test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, findInDir, listFiles,
  type Harness,
} from '../support/fixtures';
import { serverBinary, startServer, type Server } from '../support/server';

let nextPort = 19300;

/** A server of this spec's own that admits uploads only with a credential. */
function credentialServer(): Promise<Server> {
  return startServer(nextPort++, ['--upload-access', 'credential']);
}

/** A new upload token for `server`, printed once by the server binary's admin command. */
function makeToken(server: Server, harness: Harness, extra: string[] = []): string {
  const out = execFileSync(
    serverBinary(),
    ['--data-dir', server.dataDir, 'admin', 'token', 'create', '--label', 'e2e', ...extra],
    { encoding: 'utf8' },
  );
  const token = out.trim();
  expect(token).toMatch(/^ft1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  harness.credentials.push(token);
  return token;
}

/** Nothing of `credentials` in `server`'s data directory or its log. */
function assertKeptOut(server: Server, credentials: string[]): void {
  for (const c of credentials) {
    expect(findInDir(server.dataDir, Buffer.from(c)), 'a credential in the data directory').toBeUndefined();
    expect(server.log()).not.toContain(c);
  }
}

async function enterToken(page: Page, token: string): Promise<void> {
  await page.goto('/');
  await expect(page.getByText(/^Files up to/)).toBeVisible();
  await page.getByLabel('Upload token', { exact: true }).fill(token);
}

test('without a valid token the page asks for one and the server refuses the upload', async ({ harness }) => {
  const server = await credentialServer();
  try {
    const token = makeToken(server, harness);
    // The same token with one character of its secret changed: well formed, not valid.
    const at = token.length - 5;
    const wrong = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
    harness.credentials.push(wrong);
    const file = makeFile('no-token.txt', 5000);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const page = await harness.openPage(server.url);
    await page.goto('/');
    const field = page.getByLabel('Upload token', { exact: true });
    await expect(field).toBeVisible();
    await expect(field).toHaveAttribute('type', 'password');
    await expect(page.getByText(/Its operator makes tokens with/)).toBeVisible();
    // The page's own refusal: no token typed, no socket opened.
    await page.locator('#file-input').setInputFiles(file.path);
    await page.getByLabel('Passphrase', { exact: true }).fill(pass);
    await page.getByRole('button', { name: 'Encrypt and upload' }).click();
    await expect(page.getByRole('alert')).toContainText('Enter your upload token');
    await expect(field).toBeFocused();
    expect(harness.sockets).toEqual([]);
    // The server's refusal, in its own words, and the focus back on the token.
    await field.fill(wrong);
    await page.getByRole('button', { name: 'Show upload token' }).click();
    await expect(field).toHaveAttribute('type', 'text');
    await page.getByRole('button', { name: 'Encrypt and upload' }).click();
    await expect(page.getByRole('alert')).toContainText('The upload failed: this upload token is not valid');
    await expect(field).toBeFocused();
    expect(listFiles(join(server.dataDir, 'segments'))).toEqual([]);
    expect(listFiles(join(server.dataDir, 'blobs'))).toEqual([]);
    assertKeptOut(server, [token, wrong]);
  } finally {
    await server.stop();
  }
});

test('with the token the upload and a download work', async ({ harness }) => {
  const server = await credentialServer();
  try {
    const token = makeToken(server, harness);
    const file = makeFile('with-token.bin', 700 * 1024);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const sender = await harness.openPage(server.url);
    await enterToken(sender, token);
    const link = await send(sender, file.path, pass, { stay: true });
    // The credential went in the upload's start, and only there.
    expect(harness.frames.some((f) => f.direction === 'sent' && f.payload.includes(Buffer.from(token)))).toBe(true);
    const recipient = await harness.openPage(server.url);
    await openLink(recipient, link);
    const saved = await download(recipient, pass);
    expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
    assertKeptOut(server, [token]);
  } finally {
    await server.stop();
  }
});

test("an upload past the token's quota is refused in the server's words", async ({ harness }) => {
  const server = await credentialServer();
  try {
    const token = makeToken(server, harness, ['--quota', '100KiB']);
    const file = makeFile('over-quota.bin', 300 * 1024);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const page = await harness.openPage(server.url);
    await enterToken(page, token);
    await page.locator('#file-input').setInputFiles(file.path);
    await page.getByLabel('Passphrase', { exact: true }).fill(pass);
    await page.getByRole('button', { name: 'Encrypt and upload' }).click();
    await expect(page.getByRole('alert')).toContainText("The upload failed: this upload token's quota is 102400 bytes");
    // Not a credential problem: the focus is not sent to the token field.
    await expect(page.getByLabel('Upload token', { exact: true })).not.toBeFocused();
    expect(listFiles(join(server.dataDir, 'segments'))).toEqual([]);
    expect(listFiles(join(server.dataDir, 'blobs'))).toEqual([]);
  } finally {
    await server.stop();
  }
});

test('a token holder invites someone, who sends one file with the link', async ({ harness }) => {
  const server = await credentialServer();
  try {
    const token = makeToken(server, harness);
    const holder = await harness.openPage(server.url);
    await enterToken(holder, token);
    const form = holder.getByRole('region', { name: 'Invite someone to send you a file' });
    await form.getByLabel('Largest file').selectOption({ label: '10 MiB' });
    await form.getByRole('button', { name: 'Create invitation link' }).click();
    const field = form.getByRole('textbox', { name: 'Invitation link' });
    await expect(field).toHaveValue(new RegExp(`^${server.url}/#invite=fi1\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
    const inviteLink = await field.inputValue();
    const invitation = inviteLink.split('#invite=')[1];
    harness.credentials.push(invitation);

    // The guest, in another browser context, without a token.
    const guest = await harness.openPage(server.url);
    await guest.goto(inviteLink);
    await expect(guest.getByText(/^You have been invited to send one file of up to 10 MiB, until /)).toBeVisible();
    // The invitation left the address bar at once.
    expect(guest.url()).toBe(`${server.url}/`);
    await expect(guest.getByLabel('Upload token', { exact: true })).toHaveCount(0);
    // A file over what it allows is refused before any upload.
    const big = makeFile('too-big-for-invite.bin', 10 * 1024 * 1024 + 1);
    await guest.locator('#file-input').setInputFiles(big.path);
    await expect(guest.getByRole('alert')).toContainText('the invitation allows one file of up to 10 MiB');
    await guest.getByRole('button', { name: 'Remove too-big-for-invite.bin' }).click();
    await expect(guest.getByRole('alert')).toHaveText('');
    const file = makeFile('invited.bin', 300 * 1024);
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    const link = await send(guest, file.path, pass, { stay: true });
    await expect(guest.getByText('This invitation is now used')).toBeVisible();

    const recipient = await harness.openPage(server.url);
    await openLink(recipient, link);
    const saved = await download(recipient, pass);
    expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);

    // The same link again: used, and nothing can be chosen.
    const again = await harness.openPage(server.url);
    await again.goto(inviteLink);
    await expect(again.getByText('This invitation cannot be used: this invitation was already used for a file.')).toBeVisible();
    await expect(again.locator('.dropzone')).toHaveAttribute('aria-disabled', 'true');
    expect(again.url()).toBe(`${server.url}/`);
    // The pages asked about the invitation (the harness checks no URL of theirs held it).
    expect(harness.requests.filter((u) => u.endsWith('/api/invitations/check'))).toHaveLength(2);
    assertKeptOut(server, [token, invitation]);
  } finally {
    await server.stop();
  }
});

test('an open server shows no token field', async ({ harness }) => {
  const page = await harness.openPage();
  await page.goto('/');
  await expect(page.getByText(/^Files up to/)).toBeVisible();
  await expect(page.getByLabel('Upload token', { exact: true })).toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'Invite someone to send you a file' })).toHaveCount(0);
});
