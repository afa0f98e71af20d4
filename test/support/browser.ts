/**
 * A real browser (Chromium, headless) loads a page and reports what it saw: console messages
 * (Content-Security-Policy violations among them), the resources it fetched, and the result of
 * expressions evaluated in the page afterwards. Driven over the DevTools protocol on a pipe.
 *
 *   node test/support/browser.ts --url https://www.foobar.com/ --trust-spki BASE64 \
 *     --evaluate 'getComputedStyle(document.body).maxWidth'
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';

export interface BrowserReport {
  readonly console: readonly { level: string; source: string; text: string }[];
  readonly resources: readonly string[];
  readonly evaluated: readonly unknown[];
}

interface Message {
  readonly id?: number;
  readonly method?: string;
  readonly sessionId?: string;
  readonly params?: Record<string, unknown>;
  readonly result?: Record<string, unknown>;
  readonly error?: { message: string };
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    'trust-spki': { type: 'string' },
    evaluate: { type: 'string', multiple: true, default: [] },
    'settle-ms': { type: 'string', default: '1000' },
    'give-up-ms': { type: 'string', default: '20000' },
  },
});
const profile = mkdtempSync(path.join(os.tmpdir(), 'foobar-browser-'));
const chromium = spawn(
  'chromium-headless-shell',
  [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    `--user-data-dir=${profile}`,
    // Trust the site's key (the lab's CA is not in this profile's store): the certificate must
    // still name the site and be valid.
    `--ignore-certificate-errors-spki-list=${values['trust-spki'] ?? ''}`,
    '--remote-debugging-pipe',
    'about:blank',
  ],
  { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
);
const exited = new Promise<void>((resolve) => {
  chromium.once('exit', () => {
    resolve();
  });
});
const toBrowser = chromium.stdio[3] as Writable;
const fromBrowser = chromium.stdio[4] as Readable;

let nextId = 1;
const waiting = new Map<number, (m: Message) => void>();
const events: Message[] = [];
let buffered = '';
fromBrowser.on('data', (chunk: Buffer) => {
  buffered += chunk.toString('utf8');
  let cut;
  while ((cut = buffered.indexOf('\0')) >= 0) {
    const message = JSON.parse(buffered.slice(0, cut)) as Message;
    buffered = buffered.slice(cut + 1);
    if (message.id !== undefined) waiting.get(message.id)?.(message);
    else events.push(message);
  }
});

function send(
  method: string,
  params: Record<string, unknown> = {},
  sessionId?: string,
): Promise<Record<string, unknown>> {
  const id = nextId++;
  toBrowser.write(
    `${JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`,
  );
  return new Promise((resolve, reject) => {
    waiting.set(id, (m) => {
      if (m.error !== undefined) reject(new Error(`${method}: ${m.error.message}`));
      else resolve(m.result ?? {});
    });
  });
}

async function until(what: string, test: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`browser: no ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const giveUp = setTimeout(() => {
  chromium.kill('SIGKILL');
  process.stderr.write('browser: gave up\n');
  process.exit(2);
}, Number(values['give-up-ms']));

try {
  const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as {
    targetId: string;
  };
  const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as {
    sessionId: string;
  };
  for (const domain of ['Page', 'Runtime', 'Log']) await send(`${domain}.enable`, {}, sessionId);
  await send('Page.navigate', { url: values.url }, sessionId);
  await until('load event', () => events.some((e) => e.method === 'Page.loadEventFired'), 10_000);
  await new Promise((r) => setTimeout(r, Number(values['settle-ms'])));
  const evaluated: unknown[] = [];
  for (const expression of values.evaluate) {
    const { result } = (await send(
      'Runtime.evaluate',
      { expression, returnByValue: true, awaitPromise: true },
      sessionId,
    )) as { result: { value?: unknown } };
    evaluated.push(result.value);
  }
  await new Promise((r) => setTimeout(r, Number(values['settle-ms'])));
  const { result } = (await send(
    'Runtime.evaluate',
    {
      expression: "performance.getEntriesByType('resource').map((e) => e.name)",
      returnByValue: true,
    },
    sessionId,
  )) as { result: { value?: string[] } };
  const report: BrowserReport = {
    console: events.flatMap((e) => {
      if (e.method === 'Log.entryAdded') {
        const entry = e.params?.entry as { level: string; source: string; text: string };
        return [{ level: entry.level, source: entry.source, text: entry.text }];
      }
      if (e.method === 'Runtime.consoleAPICalled') {
        const args = (e.params?.args ?? []) as { value?: unknown }[];
        return [
          {
            level: String(e.params?.type),
            source: 'console-api',
            text: args.map((a) => String(a.value)).join(' '),
          },
        ];
      }
      return [];
    }),
    resources: result.value ?? [],
    evaluated,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  clearTimeout(giveUp);
  // Closed, then waited for: its helper processes write the profile until the browser is gone.
  void send('Browser.close').catch(() => undefined);
  const closed = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((r) => setTimeout(r, 3000, false)),
  ]);
  if (!closed) {
    chromium.kill('SIGKILL');
    await exited;
  }
  rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}
