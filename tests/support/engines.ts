// Which AES-GCM engine a page used, as the page itself says it ("(AES-GCM: wasm, 2
// workers)"), and how long its bulk phase took. Add ENGINE_SCRIPT as an init script to
// the page's context before it loads.
import type { Page } from '@playwright/test';

// Records which AES-GCM engine the page reports while it works ("(AES-GCM: wasm)"), when
// it first says so (key derivation is over: the socket opens), and when the share link or
// the "Saved" line appears, so the bulk phase can be timed without Argon2id and without
// Playwright's polling interval.
export const ENGINE_SCRIPT = `
  window.__ferry = { engines: [], bulkStart: 0, bulkEnd: 0 };
  new MutationObserver(() => {
    const f = window.__ferry;
    for (const p of document.querySelectorAll('p.hint')) {
      const m = /AES-GCM: ([^)]+)\\)/.exec(p.textContent || '');
      if (!m) continue;
      if (!f.engines.includes(m[1])) f.engines.push(m[1]);
      if (!f.bulkStart) f.bulkStart = performance.now();
    }
    const done = document.querySelector('#share-link') || document.querySelector('p.saved')?.textContent;
    if (f.bulkStart && !f.bulkEnd && done) f.bulkEnd = performance.now();
  }).observe(document, { subtree: true, childList: true, characterData: true });
`;
/**
 * How the page names the wasm engine when it runs on helper workers, one per core up to 4
 * ("wasm, 2 workers"), so a pool that failed to start and fell back to one thread fails
 * the test.
 */
export const WASM = (page: Page): Promise<string> =>
  page.evaluate(() => {
    const n = Math.min(navigator.hardwareConcurrency, 4);
    return n >= 2 ? `wasm, ${n} workers` : 'wasm';
  });
export const engines = (page: Page): Promise<string[]> => page.evaluate(() => (window as any).__ferry?.engines ?? []);
/** Milliseconds from the end of key derivation to the link or the saved file. */
export const bulkMs = (page: Page): Promise<number> =>
  page.evaluate(() => Math.round((window as any).__ferry.bulkEnd - (window as any).__ferry.bulkStart));
