// A bare Chrome DevTools Protocol driver for measurements of a browser at work (the 1 GiB
// end-to-end test, the benchmarks): its own Chromium (same flags as Playwright's) over
// --remote-debugging-pipe, with only the Page, Runtime, DOM and Browser domains in use.
// Unlike Playwright it never enables the Network domain, so Chromium does not copy every
// WebSocket frame (base64) to the driver and queue those messages in its browser process:
// what it measures is what a browser without a debugger attached does.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

type Params = Record<string, unknown>;

/** An expression for a page's error text (Ferry's `p.error` lines), empty if none. */
export const PAGE_ERROR = `[...document.querySelectorAll('p.error')].map((p) => (p.textContent || '').trim()).filter(Boolean).join(' ')`;

export class Cdp {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private listeners: ((method: string, params: any, sessionId?: string) => void)[] = [];
  private buffer = '';

  private constructor(
    private child: ChildProcess,
    private profile: string,
    private out: Writable,
    input: Readable,
  ) {
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end;
      while ((end = this.buffer.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buffer.slice(0, end));
        this.buffer = this.buffer.slice(end + 1);
        if (msg.id !== undefined) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
          else p?.resolve(msg.result);
        } else {
          for (const l of this.listeners) l(msg.method, msg.params, msg.sessionId);
        }
      }
    });
  }

  static launch(executable: string, args: string[]): Cdp {
    const profile = mkdtempSync(join(tmpdir(), 'ferry-cdp-'));
    const child = spawn(executable, [...args, '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank'], {
      stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'],
    });
    return new Cdp(child, profile, child.stdio[3] as Writable, child.stdio[4] as Readable);
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(method: string, params: Params = {}, sessionId?: string): Promise<any> {
    const id = this.nextId++;
    this.out.write(JSON.stringify({ id, method, params, sessionId }) + '\0');
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  on(listener: (method: string, params: any, sessionId?: string) => void): () => void {
    this.listeners.push(listener);
    return () => (this.listeners = this.listeners.filter((l) => l !== listener));
  }

  /** A fresh browser context (like Playwright's newContext) with one page in it. */
  async newPage(initScript: string, downloadPath?: string): Promise<CdpPage> {
    const { browserContextId } = await this.send('Target.createBrowserContext', { disposeOnDetach: true });
    if (downloadPath) {
      await this.send('Browser.setDownloadBehavior', {
        behavior: 'allowAndName',
        browserContextId,
        downloadPath,
        eventsEnabled: true,
      });
    }
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank', browserContextId });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    await this.send('Page.enable', {}, sessionId);
    await this.send('Runtime.enable', {}, sessionId);
    await this.send('Page.addScriptToEvaluateOnNewDocument', { source: initScript }, sessionId);
    return new CdpPage(this, sessionId, browserContextId);
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.send('Browser.close').catch(() => {});
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    rmSync(this.profile, { recursive: true, force: true });
  }
}

export class CdpPage {
  constructor(
    private cdp: Cdp,
    private sessionId: string,
    private browserContextId: string,
  ) {}

  /** Evaluates `expression` in the page and returns its (JSON) value. */
  async eval<T = any>(expression: string): Promise<T> {
    const r = await this.cdp.send(
      'Runtime.evaluate',
      { expression, returnByValue: true, awaitPromise: true },
      this.sessionId,
    );
    if (r.exceptionDetails) throw new Error(`in page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  async goto(url: string): Promise<void> {
    await this.cdp.send('Page.navigate', { url }, this.sessionId);
    await this.waitFor(`document.readyState === 'complete'`);
  }

  /** Polls `expression` every `ms` until it is truthy; returns its value. */
  async waitFor<T = any>(expression: string, ms = 100, timeout = 3_600_000): Promise<T> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const v = await this.eval<T>(expression);
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
      await new Promise((r) => setTimeout(r, ms));
    }
  }

  async setInputFiles(selector: string, files: string[]): Promise<void> {
    const { root } = await this.cdp.send('DOM.getDocument', { depth: 0 }, this.sessionId);
    const { nodeId } = await this.cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector }, this.sessionId);
    await this.cdp.send('DOM.setFileInputFiles', { nodeId, files }, this.sessionId);
  }

  /** Types `value` into the input `selector` as the app sees it (an `input` event). */
  async fill(selector: string, value: string): Promise<void> {
    await this.eval(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      el.focus();
      el.value = ${JSON.stringify(value)};
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    })()`);
  }

  async clickButton(name: string): Promise<void> {
    await this.eval(`(() => {
      const b = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === ${JSON.stringify(name)});
      if (!b) throw new Error('no button ' + ${JSON.stringify(name)});
      b.click();
    })()`);
  }

  /** Resolves with the download's file name (its guid in the download directory) once the
   * browser finished writing it, or rejects if it was cancelled. `began` is when the browser
   * announced the download (`Date.now()`): the response's headers are in, bytes follow. */
  nextDownload(): Promise<{ guid: string; suggestedFilename: string; began: number }> {
    let name = '';
    let began = 0;
    return new Promise((resolve, reject) => {
      const off = this.cdp.on((method, params) => {
        if (method === 'Browser.downloadWillBegin') {
          name = params.suggestedFilename;
          began = Date.now();
        }
        if (method === 'Browser.downloadProgress' && params.state === 'completed') {
          off();
          resolve({ guid: params.guid, suggestedFilename: name, began });
        }
        if (method === 'Browser.downloadProgress' && params.state === 'canceled') {
          off();
          reject(new Error('download canceled'));
        }
      });
    });
  }

  async close(): Promise<void> {
    await this.cdp.send('Target.disposeBrowserContext', { browserContextId: this.browserContextId }).catch(() => {});
  }
}
