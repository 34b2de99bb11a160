// The pieces of a transfer measured one by one (tests/bench/primitives/worker.js), in a
// Chromium driven over a bare CDP pipe (tests/support/cdp.ts). Runs only with FERRY_BENCH_PRIMITIVES=1
// (scripts/bench-browser-transfer.sh with PRIMITIVES=1, which serves the files beside
// the app). Measurements only.
import { test } from '@playwright/test';
import { Cdp } from '../support/cdp';

test('transfer primitives', async ({ launchOptions }) => {
  test.skip(process.env.FERRY_BENCH_PRIMITIVES !== '1', 'set PRIMITIVES=1');
  const cdp = Cdp.launch(launchOptions.executablePath!, launchOptions.args ?? []);
  try {
    const page = await cdp.newPage('');
    await page.goto(`${process.env.FERRY_BENCH_URL}/bench-primitives.html`);
    await page.setInputFiles('#f', [process.env.FERRY_BENCH_INPUT!]);
    const lines: string[] = [];
    for (;;) {
      const logs: string[] = await page.eval('window.__logs');
      lines.push(...logs.slice(lines.length));
      if (await page.eval('window.__done')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    console.log(['', 'primitives (dedicated worker, bare CDP):', ...lines.map((l) => `  ${l}`), ''].join('\n'));
  } finally {
    await cdp.close();
  }
});
