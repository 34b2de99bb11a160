// Translations: the page speaks the browser's language when it has it (German here), a
// switch in the header changes it at once and is remembered, `<html lang>` follows, and
// the German pages have no WCAG 2.2 AA violation either, and a failed transfer says why in
// German too (the worker's typed failure, worded by the page). The catalogues themselves are
// checked natively (frontend/src/i18n.rs: the same messages in every language, every
// message the pages ask for present).
import { unlinkSync } from 'node:fs';
import { test, expect, makeFile, passphrase } from '../support/fixtures';
import { axeEverywhere } from '../support/axe';

test('a German browser gets German pages; the switch changes the language and remembers it', async ({ harness }) => {
  const page = await harness.openPage(undefined, { locale: 'de-DE' });
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Eine Datei senden' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'de');
  await expect(page.getByText(/^Dateien bis insgesamt .* Bis zu 10\.000 Dateien und Ordner, jeder Pfad höchstens 1\.024 Bytes lang/)).toBeVisible();
  await expect(page.getByRole('button', { name: /Dateien zum Senden auswählen/ })).toBeVisible();
  const found = await axeEverywhere(page, 'send, German');

  // A file chosen: the list and the refusal of a missing passphrase in German.
  const file = makeFile('übersetzt.txt', 3000);
  harness.secrets.push(file.marker);
  await page.locator('#file-input').setInputFiles(file.path);
  await expect(page.locator('#selection-total')).toHaveText('1 Datei, insgesamt 2,9 KiB.');
  await page.getByRole('button', { name: 'Verschlüsseln und hochladen' }).click();
  await expect(page.getByRole('alert')).toHaveText('Geben Sie eine Passphrase ein: der Empfänger braucht sie, um die Datei zu öffnen.');

  // Switched to English: every text follows at once, the choice is kept for the next visit.
  await page.getByLabel('Sprache').selectOption('en');
  await expect(page.getByRole('heading', { name: 'Send a file' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.locator('#selection-total')).toHaveText('1 file, 2.9 KiB in all.');
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Send a file' })).toBeVisible();
  await page.getByLabel('Language').selectOption('de');

  // The receive page in German, with a link of this server.
  const pass = passphrase();
  harness.secrets.push(pass);
  await page.locator('#file-input').setInputFiles(file.path);
  await page.getByLabel('Passphrase', { exact: true }).fill(pass);
  await page.getByRole('button', { name: 'Verschlüsseln und hochladen' }).click();
  const link = page.getByRole('textbox', { name: 'Link zum Teilen' });
  await expect(link).toBeVisible({ timeout: 60_000 });
  await expect(page.getByRole('heading', { name: 'Bereit zum Teilen' })).toBeVisible();
  found.push(...(await axeEverywhere(page, 'shared, German')));
  const url = await link.inputValue();
  harness.secrets.push(new URL(url).hash.slice(1));
  const recipient = await harness.openPage(undefined, { locale: 'de-AT' });
  await recipient.goto(url);
  await expect(recipient.getByText(/^Eine Datei wartet auf Sie \(2,9 KiB\)\. Sie läuft ab .*; noch 1 Download\.$/)).toBeVisible();
  await recipient.getByLabel('Passphrase', { exact: true }).fill('nicht die Passphrase');
  await recipient.getByRole('button', { name: 'Herunterladen' }).click();
  await expect(recipient.getByRole('alert').filter({ hasText: 'Falsche Passphrase' })).toContainText('Noch ');
  found.push(...(await axeEverywhere(recipient, 'receive, German, wrong passphrase')));
  await recipient.getByLabel('Sprache').selectOption('en');
  await expect(recipient.locator('#receive-error')).toContainText(/^Wrong passphrase .* attempts left\. Please try again\.$/);

  // The sender's share status is a state worded when shown: deleted, then switched, it follows.
  await page.getByRole('button', { name: 'Löschen' }).click();
  const status = page.locator('.done p.status');
  await expect(status).toHaveText('Gelöscht: der Link funktioniert nicht mehr.');
  await page.getByLabel('Sprache').selectOption('en');
  await expect(status).toHaveText('Deleted: the link no longer works.');
  expect(found).toEqual([]);
});

test("a failed upload says why in the page's language", async ({ harness }) => {
  const page = await harness.openPage(undefined, { locale: 'de-DE' });
  await page.goto('/');
  const file = makeFile('verschwunden.bin', 300_000);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  await page.locator('#file-input').setInputFiles(file.path);
  await expect(page.locator('#selection-total')).toContainText('1 Datei');
  // Gone from the disk after it was chosen: the worker cannot read it.
  unlinkSync(file.path);
  await page.getByLabel('Passphrase', { exact: true }).fill(pass);
  await page.getByRole('button', { name: 'Verschlüsseln und hochladen' }).click();
  await expect(page.locator('#send-error')).toHaveText(
    'Der Upload ist fehlgeschlagen: die Datei konnte nicht gelesen werden oder hat sich beim Senden geändert; ' +
      'wählen Sie sie erneut und starten Sie einen neuen Upload.',
    { timeout: 30_000 },
  );
  await expect(page.locator('#send-error')).toBeFocused();
  // Kept as what happened, not as a sentence: the switch re-words it.
  await page.getByLabel('Sprache').selectOption('en');
  await expect(page.locator('#send-error')).toHaveText(
    'The upload failed: the file could not be read, or it changed while it was sent; choose it again and start a new upload.',
  );
});
