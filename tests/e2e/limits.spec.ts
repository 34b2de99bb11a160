// Server limits as the web app meets them: a per-address rate of new uploads and the
// server's storage quota are refused at the upload's start with the server's sentence,
// nothing is stored for the refused upload, and a download beside it goes through. Each
// test starts its own server (ports 19330 and up).
import {
  test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, listFiles,
  type Harness,
} from '../support/fixtures';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { startServer } from '../support/server';

let nextPort = 19330;

/** Sends a new random file of `size` bytes from a fresh page; its link and secrets. */
async function sendOne(harness: Harness, url: string, name: string, size: number) {
  const file = makeFile(name, size);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  const page = await harness.openPage(url);
  const link = await send(page, file.path, pass);
  return { file, pass, link };
}

/** Tries to send a new file from `page` and returns the alert the page shows. */
async function refusedUpload(harness: Harness, page: Page, name: string, size: number): Promise<string> {
  const file = makeFile(name, size);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  await page.goto('/');
  await page.locator('#file-input').setInputFiles(file.path);
  await page.getByLabel('Passphrase', { exact: true }).fill(pass);
  await page.getByRole('button', { name: 'Encrypt and upload' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('The upload failed');
  return (await alert.textContent()) ?? '';
}

/** `link` downloads byte for byte in a fresh page. */
async function expectDownload(harness: Harness, url: string, link: string, pass: string, data: Buffer) {
  const page = await harness.openPage(url);
  await openLink(page, link);
  expect((await downloadedBytes(await download(page, pass))).equals(data)).toBe(true);
}

test('over its rate of new uploads an address is told when to try again; downloads go on', async ({ harness }) => {
  const server = await startServer(nextPort++, ['--rate-upload-starts', '1/min']);
  try {
    const first = await sendOne(harness, server.url, 'first.bin', 300_000);
    const before = listFiles(join(server.dataDir, 'segments')).length;
    const text = await refusedUpload(harness, await harness.openPage(server.url), 'second.bin', 300_000);
    expect(text).toMatch(/too many new uploads from your address; try again in \d+ s/);
    expect(listFiles(join(server.dataDir, 'segments')).length).toBe(before);
    // Beside it, the first share downloads.
    await expectDownload(harness, server.url, first.link, first.pass, first.file.data);
  } finally {
    await server.stop();
  }
});

test('the storage quota refuses an upload at its start; what is stored downloads', async ({ harness }) => {
  const server = await startServer(nextPort++, ['--storage-quota', '1MiB']);
  try {
    const first = await sendOne(harness, server.url, 'kept.bin', 600_000);
    const text = await refusedUpload(harness, await harness.openPage(server.url), 'over.bin', 600_000);
    expect(text).toContain("the server's storage quota is full");
    await expectDownload(harness, server.url, first.link, first.pass, first.file.data);
  } finally {
    await server.stop();
  }
});

test('past its rate of wrong passphrases an address waits, even with the right one; others are unaffected', async ({
  harness,
}) => {
  const server = await startServer(nextPort++, ['--rate-wrong-passphrases', '1/h']);
  try {
    const sent = await sendOne(harness, server.url, 'guarded.bin', 200_000);
    const page = await harness.openPage(server.url);
    await openLink(page, sent.link);
    await page.getByLabel('Passphrase', { exact: true }).fill('not the passphrase');
    await page.getByRole('button', { name: 'Download' }).click();
    await expect(page.getByRole('alert')).toContainText(/Wrong passphrase/);
    await page.getByLabel('Passphrase', { exact: true }).fill(sent.pass);
    await page.getByRole('button', { name: 'Download' }).click();
    await expect(page.getByRole('alert')).toContainText(
      /The download failed: too many wrong passphrases from your address; try again in \d+ s/,
    );
    // The share lost one try, not two, and still has its download.
    const info = await (await fetch(`${server.url}/api/shares/${new URL(sent.link).pathname.split('/').pop()}`)).json();
    expect([info.attempts_left, info.downloads_left]).toEqual([9, 1]);
  } finally {
    await server.stop();
  }
});

test('past its rate of new downloads an address is told when to try again', async ({ harness }) => {
  const server = await startServer(nextPort++, ['--rate-download-starts', '1/min']);
  try {
    const first = await sendOne(harness, server.url, 'one.bin', 200_000);
    const second = await sendOne(harness, server.url, 'two.bin', 200_000);
    await expectDownload(harness, server.url, first.link, first.pass, first.file.data);
    const page = await harness.openPage(server.url);
    await openLink(page, second.link);
    await page.getByLabel('Passphrase', { exact: true }).fill(second.pass);
    await page.getByRole('button', { name: 'Download' }).click();
    await expect(page.getByRole('alert')).toContainText(
      /The download failed: too many downloads started from your address; try again in \d+ s/,
    );
  } finally {
    await server.stop();
  }
});
