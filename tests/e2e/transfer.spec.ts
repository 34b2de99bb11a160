// Round trips through the real server in two separate browser contexts (sender and
// recipient), compared byte for byte.
import { createHash } from 'node:crypto';
import { test, expect, makeFile, passphrase, send, openLink, download, downloadedBytes, timings } from '../support/fixtures';
import { ENGINE_SCRIPT, WASM, engines } from '../support/engines';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a random binary file round-trips byte for byte', async ({ harness }) => {
  const file = makeFile('report-7f3a.bin', 3 * 1024 * 1024 + 12345);
  const pass = passphrase();
  harness.secrets.push(file.marker, 'report-7f3a', pass);
  const sender = await harness.openPage();
  const link = await send(sender, file.path, pass);
  // The link secret (the fragment) must never reach the server either.
  harness.secrets.push(new URL(link).hash.slice(1));
  // The sender sees the reminder, a QR code and the share's status.
  await expect(sender.getByText('Send the passphrase by another channel')).toBeVisible();
  await expect(sender.getByRole('img', { name: 'QR code of the share link' }).locator('svg')).toBeVisible();
  await expect(sender.getByText(/Not downloaded yet/)).toBeVisible();

  const recipient = await harness.openPage();
  await openLink(recipient, link);
  const saved = await download(recipient, pass);
  expect(saved.suggestedFilename()).toBe('report-7f3a.bin');
  expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
  await expect(recipient.getByText(/Saved “report-7f3a.bin”/)).toBeVisible();
  await expect(recipient.getByText(/report-7f3a\.bin/).first()).toBeVisible();

  // The sender's status follows.
  await sender.getByRole('button', { name: 'Refresh status' }).click();
  await expect(sender.getByText(/Downloaded 1 time|No longer available/)).toBeVisible();
  // The link's fragment never reached the server: no socket URL carries it.
  expect(harness.sockets.every((u) => !u.includes('#'))).toBe(true);
});

test('an empty file round-trips', async ({ harness }) => {
  const file = makeFile('empty.txt', 0);
  const pass = passphrase();
  harness.secrets.push(pass);
  const link = await send(await harness.openPage(), file.path, pass);
  const recipient = await harness.openPage();
  await openLink(recipient, link);
  const saved = await download(recipient, pass);
  expect(saved.suggestedFilename()).toBe('empty.txt');
  expect((await downloadedBytes(saved)).length).toBe(0);
});

test('a non-ASCII file name survives', async ({ harness }) => {
  const name = 'Grüße 📄 отчёт – 報告.pdf';
  const file = makeFile(name, 70_000);
  const pass = 'pässwörd ✓ ' + passphrase();
  harness.secrets.push(file.marker, 'Grüße', 'отчёт', '報告', pass);
  const link = await send(await harness.openPage(), file.path, pass);
  const recipient = await harness.openPage();
  await openLink(recipient, link);
  const saved = await download(recipient, pass);
  expect(saved.suggestedFilename()).toBe(name);
  expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
});

test('a 64 MiB file round-trips', async ({ harness }) => {
  test.setTimeout(300_000);
  const file = makeFile('big-64MiB.bin', 64 * 1024 * 1024);
  const pass = passphrase();
  harness.secrets.push(file.marker, 'big-64MiB', pass);
  const sender = await harness.openPage();
  const link = await send(sender, file.path, pass, { timeout: 240_000 });
  const recipient = await harness.openPage();
  await openLink(recipient, link);
  const saved = await download(recipient, pass, 240_000);
  const got = await downloadedBytes(saved);
  expect(got.length).toBe(file.data.length);
  expect(sha256(got)).toBe(sha256(file.data));
  const rate = (ms: number) => (64 / (ms / 1000)).toFixed(1);
  console.log(
    `64 MiB, click to link: ${timings.upload} ms (${rate(timings.upload)} MiB/s incl. Argon2id); ` +
      `click to saved file: ${timings.download} ms (${rate(timings.download)} MiB/s incl. Argon2id)`,
  );
});

test('the wasm AES-GCM fallback interoperates with WebCrypto', async ({ harness }) => {
  const file = makeFile('fallback.bin', 5 * 1024 * 1024 + 600_000);
  const pass = passphrase();
  harness.secrets.push(file.marker, pass);
  // Sender encrypts with the aes-gcm wasm code on helper workers, recipient decrypts with
  // WebCrypto.
  const sender = await harness.openPage();
  await sender.context().addInitScript(ENGINE_SCRIPT);
  const link = await send(sender, file.path, pass, { query: '?aes=wasm' });
  expect(await engines(sender)).toEqual([await WASM(sender)]);
  const recipient = await harness.openPage();
  await openLink(recipient, link);
  const saved = await download(recipient, pass);
  expect((await downloadedBytes(saved)).equals(file.data)).toBe(true);
  // And the other way round, with the wasm code on the transfer worker's own thread (the
  // engine where a browser has one core or cannot start the helpers).
  const back = await send(recipient, file.path, pass, { downloads: '3' });
  const u = new URL(back);
  const third = await harness.openPage();
  await third.context().addInitScript(ENGINE_SCRIPT);
  await openLink(third, `${u.origin}${u.pathname}?aes=wasm-single${u.hash}`);
  await expect(third.getByText(/A file is waiting/)).toBeVisible();
  const saved2 = await download(third, pass);
  expect(await engines(third)).toEqual(['wasm']);
  expect((await downloadedBytes(saved2)).equals(file.data)).toBe(true);
  // And with the helpers (chunks decrypted in place by a helper reach the Blob with their
  // length). A page asked for a wasm engine saves without its service worker, which
  // decrypts with WebCrypto.
  const fourth = await harness.openPage();
  await fourth.context().addInitScript(ENGINE_SCRIPT);
  await openLink(fourth, `${u.origin}${u.pathname}?aes=wasm${u.hash}`);
  const saved3 = await download(fourth, pass);
  expect(await engines(fourth)).toEqual([await WASM(fourth)]);
  expect((await downloadedBytes(saved3)).equals(file.data)).toBe(true);
});
