// `ferry receive` as a check: the CLI, straight from a server, gets exactly the bytes sent.
import { expect } from '@playwright/test';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { rebase } from './fixtures';
import { cliBinary } from './server';

const run = promisify(execFile);

/** `ferry receive` from the server at `origin` saves exactly `data` as `name` from `link`. */
export async function expectCliReceives(link: string, origin: string, pass: string, name: string, data: Buffer) {
  const out = mkdtempSync(join(tmpdir(), 'ferry-cli-out-'));
  try {
    await run(cliBinary(), ['receive', rebase(link, origin), '-o', out], {
      env: { ...process.env, FERRY_PASSPHRASE: pass },
      maxBuffer: 16 << 20,
    });
    expect(readdirSync(out)).toEqual([name]);
    expect(readFileSync(join(out, name)).equals(data)).toBe(true);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
