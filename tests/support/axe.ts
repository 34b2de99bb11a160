// axe-core (from npm) run inside a page against WCAG 2.2 A and AA, in light and dark
// themes at phone and desktop widths. axe is evaluated through the DevTools protocol, which
// the app's CSP (no inline scripts) does not apply to, so the page is tested as served.
// Beside axe, every state is checked for text the catalogues failed to give: a message
// missing from every catalogue shows as its ID, and an argument a message names but the
// code does not pass shows as `{$name}` (frontend/src/i18n.rs).
import type { Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './server';

const AXE_SOURCE = readFileSync(join(repoRoot, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** The rules that make up WCAG 2.2 A and AA in axe's tags. */
const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa'];

export const THEMES = ['light', 'dark'] as const;
export const WIDTHS = [
  { name: 'phone', width: 375, height: 740 },
  { name: 'desktop', width: 1280, height: 800 },
] as const;

/** Every violation axe finds on `page` as it is now, one line each. */
async function violations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const found = await page.evaluate(async (tags) => {
    const axe = (window as unknown as { axe: any }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map(
      (v: any) =>
        `${v.id} (${v.impact}): ${v.help}: ${v.nodes
          .map((n: any) => `${n.target.join(' ')}${n.failureSummary ? ` [${n.failureSummary.replace(/\s+/g, ' ')}]` : ''}`)
          .join('; ')}`,
    );
  }, WCAG_TAGS);
  return found as string[];
}

/** Text on `page` that a catalogue failed to give: a lone message ID (`download`,
 * `upload-failed`) or an unfilled `{$argument}`, in the text, the title, or a label. */
async function untranslated(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const id = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
    const shown = [document.title];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) shown.push(n.textContent ?? '');
    const attrs = ['aria-label', 'placeholder', 'title', 'alt'];
    for (const el of document.querySelectorAll(attrs.map((a) => `[${a}]`).join(','))) {
      for (const a of attrs) shown.push(el.getAttribute(a) ?? '');
    }
    return [...new Set(shown.map((t) => t.trim()).filter((t) => id.test(t) || /\{\s*\$/.test(t)))];
  });
}

/** Runs axe on `page` in the state it is in, in both themes at both widths, checks that
 * nothing is wider than the window and that no text is missing from the catalogues, and returns what it found, labelled with `state`. Leaves the page at desktop width in the light theme. */
export async function axeEverywhere(page: Page, state: string): Promise<string[]> {
  const out = (await untranslated(page)).map((t) => `${state}: untranslated text "${t}"`);
  for (const theme of THEMES) {
    await page.emulateMedia({ colorScheme: theme, reducedMotion: 'reduce' });
    for (const w of WIDTHS) {
      await page.setViewportSize({ width: w.width, height: w.height });
      for (const v of await violations(page)) out.push(`${state}, ${theme}, ${w.name}: ${v}`);
      // Nothing wider than the screen: no sideways scrolling on a phone.
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (wide > 0) out.push(`${state}, ${theme}, ${w.name}: the page is ${wide} px wider than the window`);
    }
  }
  await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'reduce' });
  await page.setViewportSize({ width: 1280, height: 800 });
  return out;
}
