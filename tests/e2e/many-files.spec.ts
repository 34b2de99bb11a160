// Shares of several files and folders (docs/FORMAT.md §4.1): sent by the CLI or chosen in
// the page, received in the browser as one ZIP (streamed by the service worker while it
// decrypts, or rendered in the worker where there is none) and by the CLI as a tree;
// checked with Python's zipfile and `unzip -t` against the tree that was sent.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import type { Page } from '@playwright/test';
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

/** Compares two trees: the same paths, files byte for byte, empty folders included. */
const SAME_TREE = `
import filecmp, os, sys
def walk(root):
    out = {}
    for base, dirs, files in os.walk(root):
        rel = os.path.relpath(base, root)
        if not dirs and not files and rel != ".":
            out[rel + "/"] = None
        for f in files:
            out[os.path.normpath(os.path.join(rel, f))] = os.path.join(base, f)
    return out
a, b = walk(sys.argv[1]), walk(sys.argv[2])
assert set(a) == set(b), sorted(set(a) ^ set(b))[:10]
assert all(a[n] is None or filecmp.cmp(a[n], b[n], shallow=False) for n in a)
print(len(a))
`;

/** A tree of `count` small files in nested folders (every fifth one empty), named with
 * `marker` inside each, under `root`. */
function smallFiles(root: string, count: number, marker: string): void {
  for (let i = 0; i < count; i++) {
    const dir = join(root, `d${i % 10}`, `e${i % 7}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${i}.txt`), `${marker} ${i}\n`.repeat(i % 5));
  }
}

/** Drops `paths` (files or folders) on the page's drop zone as the desktop would: DevTools'
 * `Input.dispatchDragEvent` with paths, so a folder reaches the page as a directory entry. */
async function dropPaths(page: Page, paths: string[]): Promise<void> {
  const box = (await page.locator('.dropzone').boundingBox())!;
  const cdp = await page.context().newCDPSession(page);
  const data = { items: [], files: paths, dragOperationsMask: 1 };
  for (const type of ['dragEnter', 'dragOver', 'drop'] as const) {
    await cdp.send('Input.dispatchDragEvent', { type, x: box.x + box.width / 2, y: box.y + box.height / 2, data });
  }
  await cdp.detach();
}

/** `ferry send PATH` to the main server with `pass`; resolves with the link. */
async function cliSend(path: string, pass: string): Promise<string> {
  const { stdout } = await run(cliBinary(), ['send', path, '--server', process.env.FERRY_E2E_URL!], {
    env: { ...process.env, FERRY_PASSPHRASE: pass },
    maxBuffer: 1 << 20,
  });
  return stdout.trim();
}

/** `ferry receive LINK -o TREE` (a new folder) with `pass`, then the number of entries of
 * TREE and `expected` if they are the same tree (files byte for byte, empty folders). */
async function cliReceiveTree(link: string, pass: string, tree: string, expected: string): Promise<number> {
  await run(cliBinary(), ['receive', link, '-o', tree], {
    env: { ...process.env, FERRY_PASSPHRASE: pass },
    maxBuffer: 1 << 20,
  });
  const { stdout } = await run('python3', ['-c', SAME_TREE, tree, expected]);
  return Number(stdout.trim());
}

/** Sends what `page` has chosen and returns the link. */
async function upload(page: Page, pass: string, timeout: number): Promise<string> {
  await page.getByLabel('Passphrase', { exact: true }).fill(pass);
  await page.getByLabel('Download limit').selectOption('3');
  await page.getByRole('button', { name: 'Encrypt and upload' }).click();
  const link = page.getByRole('textbox', { name: 'Share link' });
  await expect(link).toBeVisible({ timeout });
  return link.inputValue();
}

test('files and a folder chosen in the page arrive as one share: a tree from the CLI, a ZIP in the browser', async ({
  harness,
}) => {
  test.setTimeout(300_000);
  const src = mkdtempSync(join(tmpdir(), 'ferry-pick-'));
  const extra = mkdtempSync(join(tmpdir(), 'ferry-extra-'));
  const out = mkdtempSync(join(tmpdir(), 'ferry-out-'));
  try {
    const marker = `FERRY-PLAINTEXT-${randomBytes(8).toString('hex')}`;
    const folder = join(src, 'Album Ünï 7c1e');
    smallFiles(folder, 1000, marker);
    writeFileSync(join(folder, 'd3', 'ноты ♫.txt'), marker);
    const big = randomBytes(200 << 20);
    Buffer.from(marker).copy(big, 0);
    writeFileSync(join(folder, 'big.bin'), big);
    writeFileSync(join(src, 'résumé ☃.txt'), `${marker} cv`);
    writeFileSync(join(src, 'empty.txt'), '');
    writeFileSync(join(extra, 'left-out.txt'), `${marker} not sent`);
    const pass = passphrase();
    harness.secrets.push(marker, 'Ünï 7c1e', 'résumé', 'left-out', pass);

    const page = await harness.openPage();
    await page.goto('/');
    await expect(page.getByText(/^Files up to .* Up to 10,000 files and folders, each path at most 1,024 bytes long and 32 levels deep\.$/)).toBeVisible();
    await page.locator('#file-input').setInputFiles([join(src, 'résumé ☃.txt'), join(extra, 'left-out.txt')]);
    await page.locator('#folder-input').setInputFiles(folder);
    await page.locator('#file-input').setInputFiles(join(src, 'empty.txt'));
    const chosen = page.getByRole('list', { name: 'Chosen files and folders' });
    await expect(chosen.getByRole('listitem')).toHaveCount(4);
    await expect(chosen).toContainText(/Album Ünï 7c1e\s+folder, 1002 files, 200(\.\d)? MiB/);
    // Taken out again before sending.
    await page.getByRole('button', { name: 'Remove left-out.txt' }).click();
    await expect(chosen.getByRole('listitem')).toHaveCount(3);
    await expect(page.locator('#selection-total')).toHaveText(/^1004 files, 200(\.\d)? MiB in all\.$/);
    await expect(page.locator('.dropzone')).toContainText(/1004 files \(200(\.\d)? MiB\)/);
    const link = await upload(page, pass, 180_000);
    harness.secrets.push(new URL(link).hash.slice(1));

    // The CLI recreates the tree.
    const tree = join(out, 'tree');
    expect(await cliReceiveTree(link, pass, tree, src)).toBe(1004);

    // Another browser saves it as one ZIP of the same tree.
    const recipient = await harness.openPage();
    await openLink(recipient, link);
    const saved = await download(recipient, pass, 120_000);
    expect(saved.suggestedFilename()).toBe('ferry-download.zip');
    await expect(recipient.getByText('1004 files in this share, saved as one ZIP')).toBeVisible();
    const zip = join(out, 'saved.zip');
    await saved.saveAs(zip);
    const { stdout: count } = await run('python3', ['-c', CHECK, zip, src]);
    expect(Number(count.trim())).toBe(1004);
    await run('unzip', ['-tq', zip]);
  } finally {
    for (const dir of [src, extra, out]) rmSync(dir, { recursive: true, force: true });
  }
});

test('files dropped on the page are added to what is chosen, and a selection past the limits is refused before upload', async ({
  harness,
}) => {
  const src = mkdtempSync(join(tmpdir(), 'ferry-deep-'));
  try {
    const page = await harness.openPage();
    await page.goto('/');
    await expect(page.getByText(/^Files up to/)).toBeVisible();
    // A drop of two files built in the page (a `DataTransfer` of `File`s, no entries).
    const drop = await page.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['one'], 'dropped-1.txt'));
      dt.items.add(new File(['two!'], 'dropped-2.txt'));
      return dt;
    });
    await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: drop });
    const chosen = page.getByRole('list', { name: 'Chosen files and folders' });
    await expect(chosen.getByRole('listitem')).toHaveCount(2);
    await expect(page.locator('#selection-total')).toHaveText('2 files, 7 bytes in all.');

    // A folder 33 levels deep: refused as soon as it is chosen, and on upload, before any
    // connection is opened.
    let deep = join(src, 'top');
    for (let i = 0; i < 32; i++) deep = join(deep, `l${i}`);
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'too-deep.txt'), 'x');
    await page.locator('#folder-input').setInputFiles(join(src, 'top'));
    const refusal = /These files cannot be sent in one share: the path "top\/l0\/.*" is too deep \(at most 32 levels\)\./;
    await expect(page.getByRole('alert')).toHaveText(refusal);
    await page.getByLabel('Passphrase', { exact: true }).fill(passphrase());
    await page.getByRole('button', { name: 'Encrypt and upload' }).click();
    await expect(page.getByRole('alert')).toHaveText(refusal);
    expect(harness.sockets).toEqual([]);
    // Removing it clears the refusal.
    await page.getByRole('button', { name: 'Remove top' }).click();
    await expect(page.getByRole('alert')).toHaveText('');
    // Dropped, the same folder is read only to the level that is already too deep.
    await dropPaths(page, [join(src, 'top')]);
    await expect(page.getByRole('alert')).toHaveText(refusal);
    await expect(page.getByRole('list', { name: 'Chosen files and folders' })).toContainText(/top\s+empty folder/);
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
});

test('a folder dropped on the page arrives with its tree, empty folders included', async ({ harness }) => {
  test.setTimeout(120_000);
  const src = mkdtempSync(join(tmpdir(), 'ferry-drop-'));
  const out = mkdtempSync(join(tmpdir(), 'ferry-drop-out-'));
  try {
    const marker = `FERRY-PLAINTEXT-${randomBytes(8).toString('hex')}`;
    const folder = join(src, 'Dropped Ünï');
    smallFiles(folder, 120, marker);
    mkdirSync(join(folder, 'empty', 'inner empty'), { recursive: true });
    writeFileSync(join(src, 'loose ✓.txt'), marker);
    const pass = passphrase();
    harness.secrets.push(marker, 'Dropped Ünï', 'loose ✓', pass);

    const page = await harness.openPage();
    await page.goto('/');
    await expect(page.getByText(/^Files up to/)).toBeVisible();
    // A drop as the desktop makes it (DevTools' Input.dispatchDragEvent with paths), so the
    // folder reaches the page as a directory entry and is read through the Entries API.
    await dropPaths(page, [folder, join(src, 'loose ✓.txt')]);
    const chosen = page.getByRole('list', { name: 'Chosen files and folders' });
    await expect(chosen.getByRole('listitem')).toHaveCount(2);
    await expect(chosen).toContainText(/Dropped Ünï\s+folder, 120 files,/);
    await expect(page.locator('#selection-total')).toHaveText(/^121 files, 1 empty folder, [\d.]+ KiB in all\.$/);
    const link = await upload(page, pass, 60_000);
    harness.secrets.push(new URL(link).hash.slice(1));

    const tree = join(out, 'tree');
    expect(await cliReceiveTree(link, pass, tree, src)).toBe(122);
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test('where there is no service worker, a share of several files is saved as a ZIP rendered in the worker', async ({
  harness,
}) => {
  test.setTimeout(120_000);
  const src = mkdtempSync(join(tmpdir(), 'ferry-blobzip-'));
  const out = mkdtempSync(join(tmpdir(), 'ferry-blobzip-out-'));
  try {
    const marker = `FERRY-PLAINTEXT-${randomBytes(8).toString('hex')}`;
    const tree = join(src, 'Blob Ünï');
    smallFiles(tree, 50, marker);
    mkdirSync(join(tree, 'empty'), { recursive: true });
    writeFileSync(join(tree, 'mid.bin'), randomBytes(3 << 20));
    const pass = passphrase();
    harness.secrets.push(marker, 'Blob Ünï', pass);
    const link = await cliSend(tree, pass);
    harness.secrets.push(new URL(link).hash.slice(1));
    // `?aes=wasm` keeps the service worker out of the download (the page's test switch).
    const u = new URL(link);
    const page = await harness.openPage();
    await openLink(page, `${u.origin}${u.pathname}?aes=wasm${u.hash}`);
    const saved = await download(page, pass);
    expect(saved.suggestedFilename()).toBe('Blob Ünï.zip');
    const zip = join(out, 'saved.zip');
    await saved.saveAs(zip);
    const { stdout: count } = await run('python3', ['-c', CHECK, zip, src]);
    expect(Number(count.trim())).toBe(52);
    await run('unzip', ['-tq', zip]);
    // The download socket carried it, not the service worker's HTTP requests.
    expect(harness.sockets.some((u) => u.includes('/download'))).toBe(true);
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

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

    const link = await cliSend(tree, pass);
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
