// The memory of the Chromium processes this test process started (browser, renderers,
// GPU/utility, network service, service worker), read from /proc: proportional set size
// (PSS), so pages shared between Chromium's processes are counted once.
import { readdirSync, readFileSync } from 'node:fs';

export const MiB = 1024 * 1024;

/** Every live process below `root` (not `root` itself). */
export function descendants(root: number = process.pid): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      /* the process ended meanwhile */
    }
  }
  const out: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

function isChromium(pid: number): boolean {
  try {
    return /chrom/i.test(readFileSync(`/proc/${pid}/comm`, 'utf8'));
  } catch {
    return false;
  }
}

/** `Pss_Anon`, `Pss_File` and `Pss_Shmem` of `pid`, in MiB. */
export function pssKinds(pid: number): string {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return ['Anon', 'File', 'Shmem']
      .map((k) => `${k.toLowerCase()} ${(Number(new RegExp(`^Pss_${k}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0) / 1024).toFixed(0)}`)
      .join(' ');
  } catch {
    return '';
  }
}

function pssBytes(pid: number): number {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const m = /^Pss:\s+(\d+) kB/m.exec(rollup);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** PSS of each of this process's Chromium descendants, by process type; with `root`, of
 * that process (a browser) and its descendants only. */
export function chromiumProcesses(root?: number): { pid: number; type: string; pss: number }[] {
  return (root === undefined ? descendants() : [root, ...descendants(root)])
    .filter(isChromium)
    .map((pid) => {
      let type = 'browser';
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        type = /--type=([\w-]+)/.exec(cmd)?.[1] ?? 'browser';
        const sub = /--utility-sub-type=([\w.]+)/.exec(cmd)?.[1];
        if (sub) type += `:${sub}`;
      } catch {
        /* ended */
      }
      return { pid, type, pss: pssBytes(pid) };
    });
}

/** Total PSS of this process's Chromium descendants (or of `root`'s), in bytes. */
export function chromiumPss(root?: number): number {
  return chromiumProcesses(root).reduce((sum, p) => sum + p.pss, 0);
}

/** `type pid: MiB` for every Chromium process, largest first. */
export function describeChromium(root?: number): string {
  return chromiumProcesses(root)
    .sort((a, b) => b.pss - a.pss)
    .map((p) => `${p.type} ${p.pid}: ${(p.pss / MiB).toFixed(0)} MiB`)
    .join(', ');
}

/** Samples [`chromiumPss`] every `everyMs` until stopped; `stop` returns the peak. */
export function sampleChromium(
  everyMs = 250,
  root?: number,
): { stop: () => { peak: number; samples: number; atPeak: string } } {
  let peak = 0;
  let atPeak = '';
  let samples = 0;
  const sample = () => {
    const procs = chromiumProcesses(root);
    const total = procs.reduce((sum, p) => sum + p.pss, 0);
    samples++;
    if (total > peak) {
      peak = total;
      atPeak = procs
        .sort((a, b) => b.pss - a.pss)
        .map((p, i) => `${p.type}: ${(p.pss / MiB).toFixed(0)}${i < 2 ? ` (${pssKinds(p.pid)})` : ''}`)
        .join(', ');
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { peak, samples, atPeak };
    },
  };
}

