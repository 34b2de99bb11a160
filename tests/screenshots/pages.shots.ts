// Draws the send page with a file chosen, the shared link, and the receive page, in the
// light and dark themes at desktop and phone widths, into FERRY_SHOTS_DIR as
// screenshot-<page>-<theme>-<width>.png. The file, passphrase and link are made up on the
// spot; nothing secret is in the pictures beyond a link to a throwaway local server.
import { test, expect, type Browser, type Page } from '@playwright/test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WIDTHS = [
  { name: 'desktop', viewport: { width: 900, height: 900 }, scale: 1 },
  { name: 'phone', viewport: { width: 375, height: 760 }, scale: 2 },
] as const;
const THEMES = ['light', 'dark'] as const;
const PASS = 'correct horse battery staple 42';

async function open(browser: Browser, theme: string, width: (typeof WIDTHS)[number]): Promise<Page> {
  const context = await browser.newContext({
    baseURL: process.env.FERRY_SHOTS_URL,
    viewport: width.viewport,
    deviceScaleFactor: width.scale,
    colorScheme: theme as 'light' | 'dark',
    reducedMotion: 'reduce',
    acceptDownloads: true,
  });
  return context.newPage();
}

const shot = (page: Page, name: string, theme: string, width: string) =>
  page.screenshot({ path: join(process.env.FERRY_SHOTS_DIR!, `screenshot-${name}-${theme}-${width}.png`), fullPage: true });

for (const theme of THEMES) {
  for (const width of WIDTHS) {
    test(`${theme}, ${width.name}`, async ({ browser }) => {
      const dir = mkdtempSync(join(tmpdir(), 'ferry-shots-'));
      const file = join(dir, 'Quarterly report.pdf');
      writeFileSync(file, Buffer.alloc(2_345_678, 7));
      const send = await open(browser, theme, width);
      await send.goto('/');
      await expect(send.getByText(/^Files up to/)).toBeVisible();
      await send.locator('#file-input').setInputFiles(file);
      await send.getByLabel('Passphrase', { exact: true }).fill(PASS);
      await shot(send, 'send', theme, width.name);
      await send.getByRole('button', { name: 'Encrypt and upload' }).click();
      const link = send.getByRole('textbox', { name: 'Share link' });
      await expect(link).toBeVisible({ timeout: 60_000 });
      await send.locator('h1').focus();
      await shot(send, 'shared', theme, width.name);
      const receive = await open(browser, theme, width);
      await receive.goto(await link.inputValue());
      await expect(receive.getByText(/A file is waiting for you/)).toBeVisible();
      await expect(receive.getByText(/saved to your downloads as it is decrypted/)).toBeVisible();
      await shot(receive, 'receive', theme, width.name);
    });
  }
}
