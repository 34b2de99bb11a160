// The README's screenshots (scripts/screenshots.sh), kept apart from the end-to-end suite:
// they assert nothing, they only draw the pages. The script starts the server and passes
// its URL in FERRY_SHOTS_URL and the output folder in FERRY_SHOTS_DIR.
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../support/chromium';

export default defineConfig({
  testDir: '.',
  testMatch: '*.shots.ts',
  workers: 1,
  timeout: 120_000,
  retries: 0,
  reporter: [['list']],
  outputDir: './shots-results',
  use: {
    acceptDownloads: true,
    trace: 'off',
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
  },
});
