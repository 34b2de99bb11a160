// Starts and stops ferry-server processes for the tests: 127.0.0.1 only, a fresh
// temporary data directory each (or one the caller keeps, for a restart), the web app from
// dist/.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..');

/** A binary built by cargo: `$envVar` if set, else the first of `profiles` under the target
 * directory that holds one. */
function builtBinary(name: string, envVar: string, profiles: string[], hint: string): string {
  if (process.env[envVar]) return process.env[envVar]!;
  const targetDir = process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target');
  for (const profile of profiles) {
    const candidate = join(targetDir, profile, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} not found under ${targetDir}; build it with \`${hint}\` or set ${envVar}`);
}

/** The server binary: $FERRY_SERVER_BIN, else the release (or debug) build. */
export function serverBinary(): string {
  return builtBinary('ferry-server', 'FERRY_SERVER_BIN', ['release', 'debug'], 'cargo build --release -p ferry-backend');
}

/** The CLI binary: $FERRY_CLI_BIN, else the debug (or release) build. */
export function cliBinary(): string {
  return builtBinary('ferry', 'FERRY_CLI_BIN', ['debug', 'release'], 'cargo build -p ferry-cli');
}

/** The test PKI (tests/fixtures/tls, made by `cargo run -p ferry-cli --example
 * make_test_pki`): a private CA and a server certificate for ferry.test and 127.0.0.1. */
export const TEST_PKI = {
  ca: join(repoRoot, 'tests', 'fixtures', 'tls', 'ca.pem'),
  cert: join(repoRoot, 'tests', 'fixtures', 'tls', 'server.pem'),
  key: join(repoRoot, 'tests', 'fixtures', 'tls', 'server.key'),
};

/** Whether `url` answers 200, trusting `ca` (PEM) for https. */
function healthy(url: string, ca?: string): Promise<boolean> {
  if (!ca) {
    return fetch(url).then(
      (res) => res.ok,
      () => false,
    );
  }
  return new Promise((done) => {
    const req = httpsGet(url, { ca }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('error', () => done(false));
  });
}

export interface Server {
  url: string;
  port: number;
  dataDir: string;
  process: ChildProcess;
  log: () => string;
  /** Ends the server (SIGTERM, SIGKILL after 5 s) and deletes its data directory unless
   * the caller passed it in. */
  stop: () => Promise<void>;
  /** Kills the server with SIGKILL (by its PID) and waits until it is gone; the data
   * directory stays, for a new server on it. */
  crash: () => Promise<void>;
}

/** Starts a server on 127.0.0.1:`port`; with `tls`, speaking HTTPS and WSS with the test PKI;
 * with `dataDir`, on that directory (say, one a killed server left), which the caller then
 * owns and deletes. */
export async function startServer(
  port: number,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
  { tls = false, dataDir: given }: { tls?: boolean; dataDir?: string } = {},
): Promise<Server> {
  const dataDir = given ?? mkdtempSync(join(tmpdir(), 'ferry-e2e-'));
  const dist = process.env.FERRY_DIST ?? join(repoRoot, 'dist');
  if (!existsSync(join(dist, 'index.html'))) {
    throw new Error(`${dist}/index.html missing: build the web app first (trunk build --release)`);
  }
  const args = ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--static-dir', dist, ...extraArgs];
  if (tls) args.push('--tls-cert', TEST_PKI.cert, '--tls-key', TEST_PKI.key);
  const child = spawn(serverBinary(), args, {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const ca = tls ? readFileSync(TEST_PKI.ca, 'utf8') : undefined;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`ferry-server exited with ${child.exitCode}:\n${output}`);
    }
    if (await healthy(`${url}/healthz`, ca)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ferry-server did not answer /healthz within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    dataDir,
    process: child,
    log: () => output,
    stop: async () => {
      // Not when it already ended (`crash`, or on its own): no 'exit' would come.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      if (!given) rmSync(dataDir, { recursive: true, force: true });
    },
    crash: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
