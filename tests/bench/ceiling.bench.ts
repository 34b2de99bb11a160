// The WebSocket ceiling: Chromium's loopback WebSockets to a server that does nothing
// (backend/examples/ws_ceiling.rs), one, two and four sockets at once, each way, in a
// dedicated worker, and the same download over HTTP (fetch), driven over a bare CDP pipe
// (tests/support/cdp.ts). Runs only from
// scripts/bench-browser-socket.sh (FERRY_BENCH_CEILING_URL). Measurements only.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from '@playwright/test';
import { Cdp } from '../support/cdp';

test('WebSocket ceiling', async ({ launchOptions }) => {
  const url = process.env.FERRY_BENCH_CEILING_URL;
  test.skip(!url, 'run scripts/bench-browser-socket.sh');
  const cdp = Cdp.launch(launchOptions.executablePath!, launchOptions.args ?? []);
  try {
    const page = await cdp.newPage('');
    await page.goto(`${url}/?mib=${process.env.FERRY_BENCH_CEILING_MIB ?? 1024}`);
    const lines: string[] = [];
    for (;;) {
      const logs: string[] = await page.eval('window.__logs');
      for (const line of logs.slice(lines.length)) console.log(`  ${line}`);
      lines.push(...logs.slice(lines.length));
      if (await page.eval('window.__done')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await saveCeiling(cdp, url!, Number(process.env.FERRY_BENCH_CEILING_MIB ?? 1024));
  } finally {
    await cdp.close();
  }
});

/** What the download manager alone takes from a service worker's stream: bytes the service
 * worker makes (no network), then bytes fetched from the server and passed through (no
 * crypto), twice each, from the request to the saved file (bare CDP, no Network domain). */
async function saveCeiling(cdp: Cdp, url: string, mib: number) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-save-ceiling-'));
  try {
    const page = await cdp.newPage('', dir);
    await page.goto(`${url}/save-page`);
    await page.waitFor('window.__ready', 100, 30_000);
    for (const kind of ['generated', 'fetched', 'generated', 'fetched']) {
      const saved = page.nextDownload();
      const t0 = Date.now();
      await page.eval(`window.__save('${kind}', ${mib})`);
      const file = await saved;
      const s = (Date.now() - t0) / 1000;
      const bytes = statSync(join(dir, file.guid)).size;
      rmSync(join(dir, file.guid));
      console.log(
        `  save through a service worker, ${kind}: ${Math.round(bytes / s / 1e6)} MB/s, ` +
          `${Math.round(bytes / 1048576 / s)} MiB/s (${(bytes / 1048576).toFixed(0)} MiB in ${s.toFixed(2)} s)`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
