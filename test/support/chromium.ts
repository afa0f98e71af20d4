/**
 * A browser the tests drive step by step, for a page watched over time (the dashboard turning red):
 * Debian's Chromium, headless, driven by playwright-core (which never downloads a browser), with a
 * fresh profile each time and no traffic outside the lab: any request to another origin than the
 * one under test is aborted and reported. (browser.ts reports on one page load, from a lab host.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  readonly page: Page;
  /** Requests the page tried outside its origin (aborted). */
  readonly foreign: readonly string[];
  close(): Promise<void>;
}

export async function openBrowser(origin: string): Promise<TestBrowser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'foobar-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      // No name resolves but the page's own address: nothing outside the lab is reachable by name.
      args: [
        ...FLAGS,
        `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${new URL(origin).hostname}`,
      ],
      viewport: { width: 1400, height: 1000 },
    });
    const foreign: string[] = [];
    await context.route('**/*', async (route) => {
      const url = route.request().url();
      if (url.startsWith(origin)) {
        await route.continue();
      } else {
        foreign.push(url);
        await route.abort();
      }
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const opened = context;
    return {
      page,
      foreign,
      close: async () => {
        await opened.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}
