// Everything that must be refused, clearly, without saving a file or consuming a download.
import {
  test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, shareId, sendThenAlter,
  listFiles,
} from '../support/fixtures';
import { join } from 'node:path';
import { startServer } from '../support/server';

let nextPort = 18230;

test('wrong passphrase, then the right one', async ({ harness }) => {
  const file = makeFile('secret-plans.txt', 5000);
  const pass = passphrase();
  harness.secrets.push(file.marker, 'secret-plans', pass, 'not-the-passphrase');
  const link = await send(await harness.openPage(), file.path, pass);
  const recipient = await harness.openPage();
  await openLink(recipient, link);
  let downloads = 0;
  recipient.on('download', () => downloads++);
  await recipient.getByLabel('Passphrase', { exact: true }).fill('not-the-passphrase');
  await recipient.getByRole('button', { name: 'Download' }).click();
  await expect(recipient.getByRole('alert')).toContainText(/Wrong passphrase.*\d+ attempts? left/);
  expect(downloads).toBe(0);
  const saved = await download(recipient, pass);
  expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
});

test('opening the link without a passphrase consumes nothing', async ({ harness }) => {
  const file = makeFile('preview.txt', 1000);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  const sender = await harness.openPage();
  const link = await send(sender, file.path, pass);
  const id = shareId(link);
  // A chat app's preview bot opens the link and reads the page, twice.
  for (let i = 0; i < 2; i++) {
    const bot = await harness.openPage();
    await openLink(bot, link);
    await bot.close();
  }
  const info = await (await fetch(`${process.env.FERRY_E2E_URL}/api/shares/${id}`)).json();
  expect(info.downloads_left).toBe(1);
  // The real recipient still gets the file.
  const recipient = await harness.openPage();
  await openLink(recipient, link);
  const saved = await download(recipient, pass);
  expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
});

test('the second download of a one-time link is refused clearly', async ({ harness }) => {
  const file = makeFile('once.txt', 2000);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  const link = await send(await harness.openPage(), file.path, pass);
  const first = await harness.openPage();
  await openLink(first, link);
  await download(first, pass);
  await expect(first.getByText(/The link is now used up/)).toBeVisible();
  const second = await harness.openPage();
  await second.goto(link);
  await expect(second.getByRole('alert')).toContainText(/already been downloaded|no longer available|No file is waiting/i);
  await expect(second.getByRole('button', { name: 'Download' })).toHaveCount(0);
});

test('a link with a missing or damaged secret is called incomplete', async ({ harness }) => {
  const file = makeFile('frag.txt', 100);
  const pass = passphrase();
  const link = await send(await harness.openPage(), file.path, pass);
  const page = await harness.openPage();
  for (const broken of [link.split('#')[0], link.slice(0, -3)]) {
    await page.goto(broken);
    await expect(page.getByRole('alert')).toContainText('This link is incomplete');
  }
});

test('an expired link says so', async ({ harness }) => {
  const server = await startServer(nextPort++, ['--max-expiry', '3s', '--sweep-interval', '1s']);
  try {
    const file = makeFile('soon-gone.txt', 100);
    const pass = passphrase();
    const sender = await harness.openPage(server.url);
    const link = await send(sender, file.path, pass);
    await new Promise((r) => setTimeout(r, 4_500));
    const recipient = await harness.openPage(server.url);
    await recipient.goto(link);
    await expect(recipient.getByRole('alert')).toContainText(/expired/i);
    await expect(recipient.getByRole('button', { name: 'Download' })).toHaveCount(0);
  } finally {
    await server.stop();
  }
});

test('a file over the server limit is refused before any upload', async ({ harness }) => {
  const server = await startServer(nextPort++, ['--max-file-size', '1MiB']);
  try {
    const file = makeFile('too-big.bin', 1024 * 1024 + 1);
    const page = await harness.openPage(server.url);
    await page.goto('/');
    await expect(page.getByText('Files up to 1 MiB in all.')).toBeVisible();
    await page.locator('#file-input').setInputFiles(file.path);
    await expect(page.getByRole('alert')).toContainText('this server accepts files up to 1 MiB');
    await page.getByLabel('Passphrase', { exact: true }).fill(passphrase());
    await page.getByRole('button', { name: 'Encrypt and upload' }).click();
    await expect(page.getByRole('alert')).toContainText('this server accepts files up to 1 MiB');
    await page.waitForTimeout(1000);
    expect(harness.sockets).toEqual([]);
    // No segment or blob, finished or staged (the data directory also holds the database
    // and the server's space-reserve ballast).
    expect(listFiles(join(server.dataDir, 'segments'))).toEqual([]);
    expect(listFiles(join(server.dataDir, 'blobs'))).toEqual([]);
  } finally {
    await server.stop();
  }
});

test('an empty passphrase is refused', async ({ harness }) => {
  const file = makeFile('nopass.txt', 10);
  const page = await harness.openPage();
  await page.goto('/');
  await expect(page.getByText(/^Files up to/)).toBeVisible();
  await page.locator('#file-input').setInputFiles(file.path);
  await page.getByRole('button', { name: 'Encrypt and upload' }).click();
  await expect(page.getByRole('alert')).toContainText('Enter a passphrase');
  expect(harness.sockets).toEqual([]);
});

test('a blob altered on the server is refused and nothing is saved', async ({ harness }) => {
  // One bit inside the third chunk.
  const { link, pass } = await sendThenAlter(harness, 'tamper.bin', 1024 * 1024 + 777, () => 600 * 1024);

  const recipient = await harness.openPage();
  await openLink(recipient, link);
  let downloads = 0;
  recipient.on('download', () => downloads++);
  await recipient.getByLabel('Passphrase', { exact: true }).fill(pass);
  await recipient.getByRole('button', { name: 'Download' }).click();
  await expect(recipient.getByRole('alert')).toContainText('altered in storage');
  await expect(recipient.getByRole('alert')).toContainText('Nothing was saved');
  await recipient.waitForTimeout(1000);
  expect(downloads).toBe(0);
});
