// Ferry's browser end-to-end tests: Debian's Chromium (never a downloaded browser)
// against the real ferry-server serving the Trunk build in dist/.
// See tests/README.md for how to build and run.
import { defineConfig } from '@playwright/test';

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
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
      ],
    },
  },
});
