// The multi-replica rig (tests/replicas/): two ferry-server replicas on PostgreSQL and S3
// behind HAProxy. Run under the scripts that start those components:
//   scripts/with-postgres.sh scripts/with-s3.sh npx playwright test -c tests/replicas.config.ts
// (scripts/test.sh does, once per CI run). Same browser and settings as the main suite,
// without its main server.
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './support/chromium';

export default defineConfig({
  testDir: './replicas',
  workers: 1,
  fullyParallel: false,
  timeout: 240_000,
  expect: { timeout: 20_000 },
  retries: 0,
  reporter: [['list']],
  outputDir: './test-results-replicas',
  use: {
    acceptDownloads: true,
    trace: 'off',
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
  },
});
