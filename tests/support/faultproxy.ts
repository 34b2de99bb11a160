// Starts ferry-faultproxy (tests/README.md "Fault-injecting proxy") in front of a server and
// talks to it over its stdin/stdout: its address, then `stats` answered with one JSON line
// and `down`/`up` answered with `ok`.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot, type Server } from './server';

/** The proxy's counters, as its `stats` line gives them. */
export interface ProxyStats {
  connections: number;
  cuts: number;
  refused: number;
  bytes_up: number;
  bytes_down: number;
  open: number;
}

export interface Proxy {
  url: string;
  port: number;
  /** The proxy's counters (`stats` on its stdin). */
  stats: () => Promise<ProxyStats>;
  /** Sends a control line (`down`: reset every connection until `up`). */
  command: (line: 'down' | 'up') => Promise<void>;
  stop: () => Promise<void>;
}

function faultproxyBinary(): string {
  return process.env.FERRY_FAULTPROXY_BIN ?? join(repoRoot, 'target', 'debug', 'ferry-faultproxy');
}

/** Starts ferry-faultproxy on 127.0.0.1 in front of `server` with `args` (none: every
 * connection passes through byte for byte, and the proxy only counts). */
export async function startProxy(server: Pick<Server, 'port'>, args: string[]): Promise<Proxy> {
  const child: ChildProcess = spawn(faultproxyBinary(), ['--upstream', `127.0.0.1:${server.port}`, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  const queued: string[] = [];
  lines.on('line', (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else queued.push(line);
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const queuedLine = queued.shift();
      if (queuedLine !== undefined) return resolve(queuedLine);
      const timer = setTimeout(() => reject(new Error('ferry-faultproxy did not answer within 10 s')), 10_000);
      waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  const address = await nextLine();
  if (!/^127\.0\.0\.1:\d+$/.test(address)) throw new Error(`ferry-faultproxy printed ${address}`);
  return {
    url: `http://${address}`,
    port: Number(address.split(':')[1]),
    stats: async () => {
      child.stdin!.write('stats\n');
      return JSON.parse(await nextLine());
    },
    command: async (line) => {
      child.stdin!.write(`${line}\n`);
      const answer = await nextLine();
      if (answer !== 'ok') throw new Error(`ferry-faultproxy answered ${answer} to ${line}`);
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Records every status line the page announces (its live regions) that says it is
 * reconnecting, in `window.__ferryReconnecting`: a pause lasts only about a second, too
 * short to catch by polling. Add as an init script before the page loads. */
export const RECONNECT_WATCH = `
  window.__ferryReconnecting = [];
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('[aria-live]')) {
      const text = el.textContent || '';
      if (/Reconnecting/.test(text) && !window.__ferryReconnecting.includes(text)) window.__ferryReconnecting.push(text);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
`;
