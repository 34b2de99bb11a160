// The browser transfer benchmark (scripts/bench-browser-transfer.sh), kept apart from the
// end-to-end suite (tests/playwright.config.ts, testDir ./e2e): it moves a large file,
// takes minutes and asserts nothing about time. The script starts the server and passes
// its URL and the input file in FERRY_BENCH_* variables.
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../support/chromium';

export default defineConfig({
  testDir: '.',
  testMatch: '*.bench.ts',
  workers: 1,
  fullyParallel: false,
  timeout: 3_600_000,
  retries: 0,
  reporter: [['list']],
  outputDir: process.env.FERRY_BENCH_RESULTS ?? './bench-results',
  use: {
    acceptDownloads: true,
    // No tracing, screenshots or video: they would cost CPU during the transfers.
    trace: 'off',
    screenshot: 'off',
    video: 'off',
    // The same Chromium and flags as the end-to-end suite.
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
  },
});
