// The whole flow by keyboard alone: choose, type, upload, copy the link; open it, type,
// download. Every element the Tab key reaches shows a visible focus outline, and focus
// moves to the result when there is one.
import type { Page } from '@playwright/test';
import { test, expect, makeFile, passphrase, downloadedBytes } from '../support/fixtures';

/** Presses Tab until the focused element matches `selector` (at most 40 times), checking
 * that every element focused on the way shows an outline. */
async function tabTo(page: Page, selector: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const focused = await page.evaluate((sel) => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return { matches: false, outline: 'body' };
      const style = getComputedStyle(el);
      const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
      return { matches: el.matches(sel), outline: outline ? '' : `${el.tagName}#${el.id}.${el.className}` };
    }, selector);
    expect(focused.outline === '' || focused.outline === 'body', `no visible focus on ${focused.outline}`).toBe(true);
    if (focused.matches) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`the Tab key never reached ${selector}`);
}

test('a file goes from one person to another by keyboard alone', async ({ harness }) => {
  const file = makeFile('by-keyboard.txt', 5_000);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);

  const page = await harness.openPage();
  await page.goto('/');
  await expect(page.getByText(/^Files up to/)).toBeVisible();
  await tabTo(page, '.dropzone');
  const chooser = page.waitForEvent('filechooser');
  await page.keyboard.press('Enter');
  await (await chooser).setFiles(file.path);
  await tabTo(page, '#passphrase');
  await page.keyboard.type(pass);
  await tabTo(page, 'button.primary');
  await page.keyboard.press('Enter');
  // Focus lands on the result.
  await expect(page.locator('#shared-title')).toBeFocused({ timeout: 60_000 });
  await tabTo(page, '#share-link');
  const link = await page.locator('#share-link').inputValue();
  harness.secrets.push(new URL(link).hash.slice(1));

  const recipient = await harness.openPage();
  await recipient.goto(link);
  await expect(recipient.getByText(/A file is waiting for you/)).toBeVisible();
  await tabTo(recipient, '#passphrase');
  await recipient.keyboard.type(pass);
  const downloaded = recipient.waitForEvent('download');
  await recipient.keyboard.press('Enter');
  expect((await downloadedBytes(await downloaded)).equals(file.data)).toBe(true);
  await expect(recipient.locator('#receive-saved')).toBeFocused();
  await expect(recipient.locator('#receive-saved')).toHaveText(/Saved “by-keyboard\.txt”/);
});
