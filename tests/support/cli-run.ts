// A `ferry` process that a test watches while it runs (to kill its server midway, say):
// its output collected, its exit awaited, and killed at the end if it still runs.
import { spawn } from 'node:child_process';
import { cliBinary } from './server';

export interface CliRun {
  /** Resolves with the exit code (null if killed by a signal). */
  exited: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
  running: () => boolean;
  /** SIGKILL if it still runs (for `finally`). */
  kill: () => void;
}

/** Starts `ferry args…` with `env` added to the test's environment. */
export function startCli(args: string[], env: Record<string, string>): CliRun {
  const child = spawn(cliBinary(), args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    running,
    kill: () => {
      if (running()) child.kill('SIGKILL');
    },
  };
}
