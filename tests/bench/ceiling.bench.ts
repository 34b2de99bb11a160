// The WebSocket ceiling: Chromium's loopback WebSockets to a server that does nothing
// (backend/examples/ws_ceiling.rs), one, two and four sockets at once, each way, in a
// dedicated worker, and the same download over HTTP (fetch), driven over a bare CDP pipe
// (tests/support/cdp.ts). Runs only from
// scripts/bench-browser-socket.sh (FERRY_BENCH_CEILING_URL). Measurements only.
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
  } finally {
    await cdp.close();
  }
});
