// Ferry's browser end-to-end tests: Debian's Chromium (never a downloaded browser)
// against the real ferry-server serving the Trunk build in dist/.
// See tests/README.md for how to build and run.
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './support/chromium';

export default defineConfig({
  testDir: './e2e',
  // A 2-core machine: Argon2id (64 MiB) and AES run in every test; keep runs stable.
  workers: 1,
  fullyParallel: false,
  timeout: 120_000,
  expect: { timeout: 20_000 },
  retries: 0,
  reporter: [['list']],
  outputDir: './test-results',
  globalSetup: './support/global-setup.ts',
  use: {
    acceptDownloads: true,
    trace: 'retain-on-failure',
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
  },
});
