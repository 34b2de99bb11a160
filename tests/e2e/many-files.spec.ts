// Shares of several files and folders (docs/FORMAT.md §4.1): sent by the CLI, received in
// the browser as one ZIP streamed by the service worker while it decrypts, checked with
// Python's zipfile and `unzip -t` against the tree that was sent.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { test, expect, passphrase, openLink, download } from '../support/fixtures';
import { cliBinary } from '../support/server';

const run = promisify(execFile);

/** Compares a ZIP with the tree it was made of: every file byte for byte, empty folders,
 * nothing else; then `unzip -t`. */
const CHECK = `
import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
root = sys.argv[2]
assert z.testzip() is None
want = {}
for base, dirs, files in os.walk(root):
    rel = os.path.relpath(base, root)
    if not dirs and not files:
        want[rel + "/"] = None
    for f in files:
        want[os.path.normpath(os.path.join(rel, f))] = open(os.path.join(base, f), "rb").read()
got = {n: (None if n.endswith("/") else z.read(n)) for n in z.namelist()}
assert set(got) == set(want), (sorted(set(got) ^ set(want))[:10])
assert all(got[n] == want[n] for n in want)
print(len(got))
`;

test('a folder sent by the CLI is saved in the browser as one ZIP of the same tree', async ({ harness }) => {
  test.setTimeout(180_000);
  const src = mkdtempSync(join(tmpdir(), 'ferry-tree-'));
  const out = mkdtempSync(join(tmpdir(), 'ferry-zip-'));
  try {
    const marker = `FERRY-PLAINTEXT-${randomBytes(8).toString('hex')}`;
    const tree = join(src, 'Project Ünïcode 9f3a');
    for (let i = 0; i < 1000; i++) {
      const dir = join(tree, `d${i % 10}`, `e${i % 7}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `f${i}.txt`), `${marker} ${i}\n`.repeat(i % 5));
    }
    mkdirSync(join(tree, 'empty folder', 'inner'), { recursive: true });
    writeFileSync(join(tree, 'résumé ☃ 日本.txt'), marker);
    const big = randomBytes(200 << 20);
    Buffer.from(marker).copy(big, 0);
    writeFileSync(join(tree, 'big.bin'), big);
    const pass = passphrase();
    harness.secrets.push(marker, 'Ünïcode 9f3a', 'résumé', pass);

    const { stdout } = await run(cliBinary(), ['send', tree, '--server', process.env.FERRY_E2E_URL!], {
      env: { ...process.env, FERRY_PASSPHRASE: pass },
      maxBuffer: 1 << 20,
    });
    const link = stdout.trim();
    harness.secrets.push(new URL(link).hash.slice(1));

    const page = await harness.openPage();
    await openLink(page, link);
    const saved = await download(page, pass, 120_000);
    expect(saved.suggestedFilename()).toBe('Project Ünïcode 9f3a.zip');
    await expect(page.getByText('1002 files and 1 empty folder in this share, saved as one ZIP')).toBeVisible();
    await expect(page.getByText(/Saved “Project Ünïcode 9f3a\.zip”/)).toBeVisible({ timeout: 120_000 });
    const zip = join(out, 'saved.zip');
    await saved.saveAs(zip);
    const { stdout: count } = await run('python3', ['-c', CHECK, zip, src]);
    expect(Number(count.trim())).toBe(1003);
    await run('unzip', ['-tq', zip]);
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});
