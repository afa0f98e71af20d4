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

/** Debian's Chromium with a fresh profile; `close` ends it and removes the profile. */
export async function launchChromium(
  args: readonly string[],
): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'foobar-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...FLAGS, ...args],
      viewport: { width: 1400, height: 1000 },
    });
    return {
      context,
      close: async () => {
        await context.close();
        rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      },
    };
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}

export async function openBrowser(origin: string): Promise<TestBrowser> {
  // No name resolves but the page's own address: nothing outside the lab is reachable by name.
  const browser = await launchChromium([
    `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${new URL(origin).hostname}`,
  ]);
  try {
    const foreign: string[] = [];
    await browser.context.route('**/*', async (route) => {
      const url = route.request().url();
      if (url.startsWith(origin)) {
        await route.continue();
      } else {
        foreign.push(url);
        await route.abort();
      }
    });
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    return { page, foreign, close: browser.close };
  } catch (error) {
    await browser.close();
    throw error;
  }
}
