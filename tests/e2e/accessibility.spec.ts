// WCAG 2.2 AA, checked by axe-core in every state of both pages, in light and dark themes
// at phone (375 px) and desktop widths (support/axe.ts).
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { test, expect, makeFile, passphrase, send, openLink } from '../support/fixtures';
import { axeEverywhere } from '../support/axe';
import { startProxy } from '../support/faultproxy';
import { startServer } from '../support/server';

const MiB = 1024 * 1024;
let nextPort = 19400;

test('the send page has no WCAG 2.2 AA violation in any state, theme or width', async ({ harness }) => {
  test.setTimeout(240_000);
  const server = await startServer(nextPort++);
  const proxy = await startProxy(server, []);
  try {
    const found: string[] = [];
    const page = await harness.openPage(proxy.url);
    await page.goto('/');
    await expect(page.getByText(/^Files up to/)).toBeVisible();
    found.push(...(await axeEverywhere(page, 'empty')));

    const file = makeFile('accessible.bin', 48 * MiB);
    const folder = join(file.path, '..', 'a folder');
    mkdirSync(folder);
    writeFileSync(join(folder, 'inside.txt'), 'x');
    await page.locator('#file-input').setInputFiles(file.path);
    await page.locator('#folder-input').setInputFiles(folder);
    await expect(page.getByRole('list', { name: 'Chosen files and folders' }).getByRole('listitem')).toHaveCount(2);
    found.push(...(await axeEverywhere(page, 'files chosen')));

    await page.getByRole('button', { name: 'Encrypt and upload' }).click();
    await expect(page.getByRole('alert')).toContainText('Enter a passphrase');
    found.push(...(await axeEverywhere(page, 'error')));

    // Uploading, then reconnecting: the proxy refuses every connection for a while.
    const pass = passphrase();
    harness.secrets.push(file.marker, pass);
    await page.getByLabel('Passphrase', { exact: true }).fill(pass);
    await page.getByRole('button', { name: 'Encrypt and upload' }).click();
    for (let i = 0; (await proxy.stats()).bytes_up < 8 * MiB; i++) {
      expect(i, 'the upload did not get going').toBeLessThan(3_000);
      await new Promise((r) => setTimeout(r, 10));
    }
    await proxy.command('down');
    await expect(page.getByText(/Reconnecting… \(attempt \d of 8\)/)).toBeVisible();
    // The tab's title says how far it is.
    expect(await page.title()).toMatch(/^\d+% · Ferry: end-to-end encrypted file sharing$/);
    found.push(...(await axeEverywhere(page, 'uploading, reconnecting')));
    await proxy.command('up');

    const link = page.getByRole('textbox', { name: 'Share link' });
    await expect(link).toBeVisible({ timeout: 120_000 });
    harness.secrets.push(new URL(await link.inputValue()).hash.slice(1));
    await expect(page.locator('#shared-title')).toBeFocused();
    expect(await page.title()).toBe('Ferry: end-to-end encrypted file sharing');
    found.push(...(await axeEverywhere(page, 'shared')));

    await page.getByRole('button', { name: 'Delete' }).click();
    await expect(page.getByText('Deleted: the link no longer works.')).toBeVisible();
    found.push(...(await axeEverywhere(page, 'deleted')));

    expect(found).toEqual([]);
  } finally {
    await proxy.stop();
    await server.stop();
  }
});

test('the receive page has no WCAG 2.2 AA violation in any state, theme or width', async ({ harness }) => {
  test.setTimeout(180_000);
  const found: string[] = [];
  const file = makeFile('to-receive.txt', 2_000);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  const link = await send(await harness.openPage(), file.path, pass);
  harness.secrets.push(new URL(link).hash.slice(1));

  const page = await harness.openPage();
  await openLink(page, link);
  found.push(...(await axeEverywhere(page, 'receive')));

  await page.getByLabel('Passphrase', { exact: true }).fill('not the passphrase');
  await page.getByRole('button', { name: 'Download' }).click();
  await expect(page.getByRole('alert').filter({ hasText: /passphrase/ })).toBeVisible();
  found.push(...(await axeEverywhere(page, 'wrong passphrase')));

  const downloaded = page.waitForEvent('download');
  await page.getByLabel('Passphrase', { exact: true }).fill(pass);
  await page.getByRole('button', { name: 'Download' }).click();
  await downloaded;
  await expect(page.getByText(/Saved “to-receive\.txt”/)).toBeVisible();
  found.push(...(await axeEverywhere(page, 'saved')));

  // Each state from a fresh load: a link that differs only after `#` would not reload.
  await page.goto('about:blank');
  await page.goto(link);
  await expect(page.getByRole('alert')).toContainText(/already been downloaded|no longer available|No file is waiting/i);
  found.push(...(await axeEverywhere(page, 'used up')));

  // Another share's link without its secret part.
  const other = makeFile('other.txt', 300);
  harness.secrets.push(other.marker);
  const u = new URL(await send(await harness.openPage(), other.path, pass));
  await page.goto(`${u.origin}${u.pathname}`);
  await expect(page.getByText(/This link is incomplete/)).toBeVisible();
  found.push(...(await axeEverywhere(page, 'incomplete link')));

  await page.goto(`/s/AAAAAAAAAAAAAAAAAAAAAA${u.hash}`);
  await expect(page.getByRole('alert')).toContainText(/No file is waiting|does not exist/i);
  found.push(...(await axeEverywhere(page, 'unknown link')));

  const server = await startServer(nextPort++, ['--max-expiry', '3s', '--sweep-interval', '1s']);
  try {
    const soon = makeFile('soon-gone.txt', 100);
    harness.secrets.push(soon.marker);
    const expiring = await send(await harness.openPage(server.url), soon.path, pass);
    await new Promise((r) => setTimeout(r, 4_500));
    const late = await harness.openPage(server.url);
    await late.goto(expiring);
    await expect(late.getByRole('alert')).toContainText(/expired/i);
    found.push(...(await axeEverywhere(late, 'expired')));
  } finally {
    await server.stop();
  }
  expect(found).toEqual([]);
});
