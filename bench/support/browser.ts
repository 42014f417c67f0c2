/**
 * Headless Chromium from Debian (/usr/bin/chromium, `scripts/setup.sh`) driven by playwright-core:
 * no browser is downloaded. The browser test and the dashboard bench share it. Every page's
 * console errors and uncaught exceptions are collected, so a test can assert there were none.
 */
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser cannot run here (for a skip), or undefined when it can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (Debian package chromium; scripts/setup.sh installs it)`;
}

// Without the background-networking flags Chromium dials Google's services at start, and this
// closed network refuses (and logs) every one of those connections.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserSession {
  browser: Browser;
  /** A new page in a context of its own (no cache or storage shared with other pages). */
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  /** Console errors and page errors of every page so far, each prefixed with the page's URL. */
  errors(): string[];
  close(): Promise<void>;
}

/** Launch Chromium; playwright gives every launch a fresh temporary profile and removes it at close. */
export async function openBrowser(): Promise<BrowserSession> {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  return {
    browser,
    async newPage(viewport = { width: 1280, height: 900 }) {
      const context = await browser.newContext({ viewport });
      contexts.push(context);
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`${page.url()}: console error: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`${page.url()}: page error: ${e.stack ?? e.message}`));
      return page;
    },
    errors: () => [...errors],
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
    },
  };
}
