// The multi-replica rig: two ferry-server replicas sharing one PostgreSQL database and one
// S3 bucket (the throwaway ones of scripts/with-postgres.sh and scripts/with-s3.sh, named
// by FERRY_TEST_DATABASE_URL and FERRY_TEST_S3_*), behind Debian's HAProxy running
// docs/haproxy.cfg as it is. All on 127.0.0.1.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, startServer, type Server } from './server';

const run = promisify(execFile);

export interface Rig {
  /** The load balancer's address: what clients use. */
  url: string;
  /** The replicas, in the order HAProxy lists them. */
  replicas: Server[];
  /** The directory where s3s-fs keeps this rig's objects (`segments/<id>/<index>`). */
  bucketDir: string;
  /** The rig's PostgreSQL database. */
  databaseUrl: string;
  /** Kills replica `i` with SIGKILL (nothing flushed, no lease given up). */
  crash: (i: number) => Promise<void>;
  /** Starts replica `i` again on its port and data directory, and waits until HAProxy
   * sends it requests again. */
  restart: (i: number) => Promise<void>;
  /** Everything every replica printed (for the leak scans). */
  logs: () => string;
  stop: () => Promise<void>;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is unset: run under scripts/with-postgres.sh scripts/with-s3.sh`);
  return value;
}

/** Creates database `name` in the test cluster (dropping an old one) and returns its URL. */
async function freshDatabase(name: string): Promise<string> {
  const cluster = required('FERRY_TEST_DATABASE_URL');
  await run('psql', [cluster, '-q', '-c', `DROP DATABASE IF EXISTS ${name}`]);
  await run('psql', [cluster, '-q', '-c', `CREATE DATABASE ${name}`]);
  return cluster.replace(/\/[^/]*$/, `/${name}`);
}

/** Starts the rig: replicas on `ports[0]` and `ports[1]`, HAProxy on `lbPort`. */
export async function startRig(lbPort: number, ports: [number, number]): Promise<Rig> {
  const databaseUrl = await freshDatabase('ferry_rig');
  const prefix = `rig-${process.pid}`;
  const bucketDir = join(required('FERRY_TEST_S3_ROOT'), required('FERRY_TEST_S3_BUCKET'), prefix);
  const args = [
    '--database-url', databaseUrl,
    '--s3-bucket', required('FERRY_TEST_S3_BUCKET'),
    '--s3-endpoint', required('FERRY_TEST_S3_ENDPOINT'),
    '--s3-allow-http',
    '--s3-prefix', prefix,
    '--trusted-proxies', '127.0.0.1',
    '--reserve-space', '1MiB',
  ];
  const env = {
    FERRY_S3_ACCESS_KEY_ID: required('FERRY_TEST_S3_ACCESS_KEY_ID'),
    FERRY_S3_SECRET_ACCESS_KEY: required('FERRY_TEST_S3_SECRET_ACCESS_KEY'),
    RUST_LOG: 'info',
  };
  const dataDirs = ports.map(() => mkdtempSync(join(tmpdir(), 'ferry-replica-')));
  const start = (i: number) => startServer(ports[i], args, env, { dataDir: dataDirs[i] });
  const replicas: Server[] = [];
  let lb: Haproxy;
  try {
    replicas.push(await start(0), await start(1));
    lb = await startHaproxy(lbPort, ports);
  } catch (e) {
    // Nothing of a rig that did not start is left running.
    for (const r of replicas) await r.stop();
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const earlierLogs: string[] = [];
  const url = `http://127.0.0.1:${lbPort}`;
  return {
    url,
    replicas,
    bucketDir,
    databaseUrl,
    crash: async (i) => {
      await replicas[i].crash();
      earlierLogs.push(replicas[i].log());
    },
    restart: async (i) => {
      replicas[i] = await start(i);
      await lb.waitUntilUp(i);
    },
    logs: () => [...earlierLogs, ...replicas.map((r) => r.log())].join('\n'),
    stop: async () => {
      await lb.stop();
      for (const r of replicas) await r.stop();
      for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Haproxy {
  /** Waits until HAProxy's health checks see replica `i` up again. */
  waitUntilUp: (i: number) => Promise<void>;
  stop: () => Promise<void>;
}

/** HAProxy with docs/haproxy.cfg, its statistics on a socket to see the replicas' state. */
async function startHaproxy(port: number, replicaPorts: number[]): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-haproxy-'));
  const stats = join(dir, 'stats.sock');
  // The tested file itself, plus a second one for the statistics socket only.
  const extra = join(dir, 'stats.cfg');
  writeFileSync(extra, `global\n    stats socket ${stats} mode 600 level user\n`);
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', join(repoRoot, 'docs', 'haproxy.cfg'), '-f', extra], {
    env: {
      ...process.env,
      FERRY_LB_BIND: `127.0.0.1:${port}`,
      FERRY_REPLICA_A: `127.0.0.1:${replicaPorts[0]}`,
      FERRY_REPLICA_B: `127.0.0.1:${replicaPorts[1]}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const status = async (): Promise<string[]> => {
    // `show stat` over the socket: one CSV line per server, its status in column 18.
    const csv = await showStat(stats);
    return ['a', 'b'].map((name) => csv.split('\n').find((l) => l.startsWith(`replicas,${name},`))?.split(',')[17] ?? '');
  };
  const waitUntilUp = async (i: number) => {
    const deadline = Date.now() + 30_000;
    while (!(await status())[i]?.startsWith('UP')) {
      if (child.exitCode !== null) throw new Error(`haproxy exited:\n${output}`);
      if (Date.now() > deadline) throw new Error(`replica ${i} not up in haproxy within 30 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilUp(0);
    await waitUntilUp(1);
  } catch (e) {
    await stop();
    throw e;
  }
  return { waitUntilUp, stop };
}

/** HAProxy's `show stat` CSV from its statistics socket (empty while it is not there). */
function showStat(socket: string): Promise<string> {
  return new Promise((done) => {
    let out = '';
    const conn = createConnection(socket, () => conn.end('show stat\n'));
    conn.on('data', (d) => (out += d));
    conn.on('end', () => done(out));
    conn.on('error', () => done(''));
  });
}

/** The replica (index into `ports`) whose connections from HAProxy have carried the most
 * bytes in `direction` (`received`: uploads, `sent`: downloads): the one serving a
 * running transfer. Read from the kernel's socket table (`ss`). */
export async function busiestReplica(ports: number[], direction: 'received' | 'sent'): Promise<number> {
  const bytes = await Promise.all(
    ports.map(async (port) => {
      const { stdout } = await run('ss', ['-Htni', 'state', 'established', `( sport = :${port} )`]);
      const counts = [...stdout.matchAll(new RegExp(`bytes_${direction}:(\\d+)`, 'g'))].map((m) => Number(m[1]));
      return Math.max(0, ...counts);
    }),
  );
  return bytes[0] >= bytes[1] ? 0 : 1;
}
