/**
 * A real browser (Chromium, headless) loads a page and reports what it saw: console messages
 * (Content-Security-Policy violations among them), the resources it fetched, and the result of
 * expressions evaluated in the page afterwards. Debian's Chromium, driven by playwright-core; the
 * console comes from the DevTools log, which says which messages are security (CSP) ones.
 *
 *   node test/support/browser.ts --url https://www.foobar.com/ --trust-spki BASE64 \
 *     --evaluate 'getComputedStyle(document.body).maxWidth'
 */
import { parseArgs } from 'node:util';
import { launchChromium } from './chromium.ts';

export interface BrowserReport {
  readonly console: readonly { level: string; source: string; text: string }[];
  readonly resources: readonly string[];
  readonly evaluated: readonly unknown[];
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    'trust-spki': { type: 'string' },
    evaluate: { type: 'string', multiple: true, default: [] },
    'settle-ms': { type: 'string', default: '1000' },
    'give-up-ms': { type: 'string', default: '60000' },
  },
});
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, Number(values['settle-ms'])));
const giveUp = setTimeout(() => {
  process.stderr.write('browser: gave up\n');
  process.exit(2);
}, Number(values['give-up-ms']));

// Trust the site's key (the lab's CA is not in this profile's store): the certificate must
// still name the site and be valid.
const browser = await launchChromium([
  `--ignore-certificate-errors-spki-list=${values['trust-spki'] ?? ''}`,
]);
try {
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  const logs: BrowserReport['console'][number][] = [];
  const devtools = await browser.context.newCDPSession(page);
  devtools.on('Log.entryAdded', ({ entry }) => {
    logs.push({ level: entry.level, source: entry.source, text: entry.text });
  });
  page.on('console', (message) => {
    logs.push({ level: message.type(), source: 'console-api', text: message.text() });
  });
  await devtools.send('Log.enable');
  await page.goto(values.url ?? 'about:blank', { waitUntil: 'load', timeout: 10_000 });
  await settle();
  const evaluated: unknown[] = [];
  for (const expression of values.evaluate) evaluated.push(await page.evaluate(expression));
  await settle();
  const resources = await page.evaluate(() =>
    performance.getEntriesByType('resource').map((e) => e.name),
  );
  const report: BrowserReport = { console: logs, resources, evaluated };
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  clearTimeout(giveUp);
  await browser.close();
}
