// The send page's controls and the owner's view of a share.
import type { Page } from '@playwright/test';
import { test, expect, makeFile, passphrase, send, openLink } from '../support/fixtures';

test('the drop zone is keyboard-reachable and the passphrase field helps', async ({ harness }) => {
  const page = await harness.openPage();
  await page.goto('/');
  await expect(page.getByText(/^Files up to/)).toBeVisible();
  // Tab to the drop zone and press Enter: the file picker opens.
  const zone = page.getByRole('button', { name: /Choose files to send/ });
  await expect(zone).toHaveAttribute('tabindex', '0');
  await zone.focus();
  const chooser = page.waitForEvent('filechooser');
  await page.keyboard.press('Enter');
  const file = makeFile('picked.txt', 1234);
  await (await chooser).setFiles(file.path);
  await expect(page.locator('.dropzone')).toContainText('picked.txt (1.2 KiB)');
  // Show/hide and a strength hint.
  const field = page.getByLabel('Passphrase', { exact: true });
  await expect(field).toHaveAttribute('type', 'password');
  await field.fill('abc');
  await expect(page.getByText(/Weak/)).toBeVisible();
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(field).toHaveAttribute('type', 'text');
  await field.fill('correct horse battery staple 42');
  await expect(page.getByText(/Strong/)).toBeVisible();
  // Expiry choices come from the server; one download by default.
  await expect(page.getByLabel('Expires after').locator('option')).toHaveText(['5 minutes', '1 hour', '1 day', '7 days']);
  await expect(page.getByLabel('Download limit')).toHaveValue('1');
});

test('the sender can delete a share, and the link then says so', async ({ harness }) => {
  const file = makeFile('delete-me.txt', 300);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  const sender = await harness.openPage();
  const link = await send(sender, file.path, pass, { downloads: '3' });
  await expect(sender.getByText(/Not downloaded yet\. 3 downloads allowed/)).toBeVisible();
  const recipient = await harness.openPage();
  await openLink(recipient, link);
  await expect(recipient.getByText(/3 downloads left/)).toBeVisible();
  await sender.getByRole('button', { name: 'Delete' }).click();
  await expect(sender.getByText('Deleted: the link no longer works.')).toBeVisible();
  await recipient.reload();
  await expect(recipient.getByRole('alert')).toContainText(/No file is waiting|no longer available|deleted/i);
});

/** How many unfinished uploads the page keeps in IndexedDB (SECURITY.md "Resumed uploads"). */
async function unfinishedRecords(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const db: IDBDatabase = await new Promise((resolve, reject) => {
      const req = indexedDB.open('ferry-uploads');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const count: number = await new Promise((resolve, reject) => {
      const req = db.transaction('uploads').objectStore('uploads').count();
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    db.close();
    return count;
  });
}

test('cancelling an upload stops it', async ({ harness }) => {
  // Big enough, and with the slower wasm AES-GCM on one thread, that the upload is still
  // running when Cancel is clicked.
  const file = makeFile('cancel.bin', 192 * 1024 * 1024);
  const page = await harness.openPage();
  await page.goto('/?aes=wasm-single');
  await expect(page.getByText(/^Files up to/)).toBeVisible();
  await page.locator('#file-input').setInputFiles(file.path);
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase());
  await page.getByRole('button', { name: 'Encrypt and upload' }).click();
  await expect(page.getByRole('progressbar', { name: 'Upload progress' })).toBeVisible();
  // Cancel once chunks flow (before that, cancelling is just as valid, but less interesting).
  await expect(page.getByText('Encrypting and uploading…')).toBeVisible();
  expect(await unfinishedRecords(page), 'a running upload keeps its record').toBe(1);
  await page.getByRole('button', { name: 'Cancel', exact: true }).click({ timeout: 5_000 });
  await expect(page.getByRole('alert')).toContainText('Upload cancelled');
  await expect(page.getByRole('button', { name: 'Encrypt and upload' })).toBeVisible();
  await page.waitForTimeout(1_000);
  await expect(page.getByRole('textbox', { name: 'Share link' })).toHaveCount(0);
  // Cancelled is not interrupted: its record left the browser's storage, so a reloaded
  // page offers nothing to continue.
  const kept = await unfinishedRecords(page);
  expect(kept, 'records of unfinished uploads').toBe(0);
});

test('Copy puts the share link on the clipboard', async ({ harness }) => {
  const file = makeFile('copy.txt', 100);
  const pass = passphrase();
  const page = await harness.openPage(undefined, { permissions: ['clipboard-read', 'clipboard-write'] });
  const link = await send(page, file.path, pass);
  await page.getByRole('button', { name: 'Copy' }).click();
  await expect(page.getByText('Copied to the clipboard.')).toBeVisible();
  // The app's pages may write the clipboard but never read it (Permissions-Policy)...
  const denied = await page.evaluate(() =>
    navigator.clipboard.readText().then(() => 'read', (e: Error) => e.name));
  expect(denied).toBe('NotAllowedError');
  // ...so the link is read back from a blank page of the same origin that the test serves.
  await page.route('**/clipboard-probe', (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>probe</title>' }));
  await page.goto(new URL('/clipboard-probe', page.url()).href);
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);
});
