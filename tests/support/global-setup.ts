// Starts the main ferry-server once for the whole run (like Playwright's `webServer`, but
// with a temporary data directory the tests can inspect). Environment variables set here
// reach the test workers.
import { startServer } from './server';

export const MAIN_PORT = Number(process.env.FERRY_E2E_PORT ?? 18200);

export default async function globalSetup() {
  // insecure-origin.spec.ts opens this server as http://ferry.test:<port>: a host name over
  // plain http, an origin the server accepts WebSockets from only when it is listed.
  const server = await startServer(MAIN_PORT, ['--allowed-origin', `http://ferry.test:${MAIN_PORT}`]);
  process.env.FERRY_E2E_URL = server.url;
  process.env.FERRY_E2E_DATA_DIR = server.dataDir;
  return async () => {
    await server.stop();
  };
}
