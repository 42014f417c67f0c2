/**
 * The dashboard in a real browser, as an operator uses it: `gantry sandbox up` (3 nodes, the API
 * emulator), `gantry dashboard --kubeconfig <the sandbox's>` as a process, and Debian's headless
 * Chromium driven by playwright-core. The page goes live; a Provider scaled 1 → 3 with kubectl
 * shows 3/3 ready and three Running cells on three nodes; a `faulty` host leaking past its
 * `resources.memory` shows as OOM-killed; calls show as a rate, a p50 and failures from the
 * agents' metrics; at 375 px wide nothing scrolls sideways and the key
 * parts stay visible; and no console error or page error happens over the whole file.
 * Every wait is on the page's own state (the DOM contract in dashboard/model.ts), never a fixed time.
 *
 * Screenshots go to docs/images/dashboard-{wide,narrow}.png when missing or with
 * GANTRY_UPDATE_SCREENSHOTS=1 (so an ordinary run never dirties the tree).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTarget } from '../../agent/target.js';
import { callProvider } from '../../client/call.js';
import { connectNats } from '../../client/nats.js';
import { gantryBin, packageRoot } from '../../runtime/paths.js';
import { killMarked } from '../../sandbox/launcher/child-group.js';
import { findBinary } from '../support/binaries.js';
import { type BrowserSession, chromiumMissing, type DashboardProcess, openBrowser, startDashboard } from '../support/browser.js';

// The functions handed to page.evaluate / waitForFunction run in Chromium; this Node program has
// no DOM types (tsconfig lib), so the few page globals they use are declared here, in this module only.
interface PageElement {
  textContent: string | null;
  tagName: string;
  id: string;
  className: unknown;
  dataset: Record<string, string | undefined>;
  getAttribute(name: string): string | null;
  closest(selector: string): PageElement | null;
  parentElement: PageElement | null;
  getBoundingClientRect(): { right: number };
  getClientRects(): { length: number };
}
declare const document: {
  body: PageElement;
  documentElement: { scrollWidth: number };
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
};
declare const window: { innerWidth: number };
declare function getComputedStyle(e: PageElement): { overflowX: string };

const missing = chromiumMissing();
// nothing is created when the file skips
const dir = missing ? join(tmpdir(), 'gantry-dashboard-browser-skipped') : mkdtempSync(join(tmpdir(), 'gantry-dashboard-browser-'));
const kubeconfig = join(dir, 'kubeconfig');
const kubectl = findBinary('kubectl')!;
const env = { ...process.env, GANTRY_LOG_LEVEL: 'warn', GANTRY_SANDBOX_DIR: dir, GANTRY_NATS_URL: '' };
const images = join(packageRoot(), 'docs', 'images');
/** The page's waits: generous, since two shared cores also run the sandbox's nodes and hosts. */
const PAGE_WAIT = 90_000;
/** A test's own bound: room for the page waits it makes (vitest's default, 60 s, is below one of them). */
const TEST_TIMEOUT = 4 * PAGE_WAIT;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A command to its end, without blocking this process (which must keep reading the sandbox's output). */
function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function ok(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} → ${r.status}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}
const kube = (...args: string[]) => ok(kubectl, ['--kubeconfig', kubeconfig, ...args]);
const gantry = (...args: string[]) => ok(process.execPath, [gantryBin(), ...args]);

let up: ReturnType<typeof spawn> | undefined;
let upOut = '';
let upExited: Promise<unknown> = Promise.resolve();
let browser: BrowserSession | undefined;
let dashboard: DashboardProcess | undefined;
let page: Page;

/** What the test waited for and what the cluster and the dashboard said meanwhile, for a failure's message. */
async function explain(what: string, e: unknown): Promise<Error> {
  const cluster = await kube('get', 'providers,providerinstances', '-A', '-o', 'wide').catch((x) => String(x));
  const body = await page?.evaluate(() => (document.body.textContent ?? '').slice(0, 3000)).catch((x) => String(x));
  return new Error(
    `${what}: ${(e as Error).message}\n--- kubectl\n${cluster}\n--- page text\n${body}\n--- dashboard output\n${dashboard?.out()}`,
  );
}

/** Waits until `fn` (run in the page) is truthy; on a timeout says what was awaited and what the page showed. */
async function pageState(what: string, fn: () => unknown, p: Page = page): Promise<void> {
  try {
    await p.waitForFunction(fn, undefined, { timeout: PAGE_WAIT, polling: 'raf' });
  } catch (e) {
    throw await explain(`waiting on the page for ${what}`, e);
  }
}

/** The instance cells of one Provider (its instances are named `<provider>-<suffix>`). */
function cellsOf(provider: string): { phase: string; node: string; restarts: number; oomKills: number }[] {
  return [...document.querySelectorAll(`[data-instance^="default/${provider}-"]`)].map((c) => ({
    phase: c.getAttribute('data-phase') ?? '',
    node: c.closest('[data-node]')?.getAttribute('data-node') ?? '',
    restarts: Number(c.getAttribute('data-restarts')),
    oomKills: Number(c.getAttribute('data-oom-kills')),
  }));
}

async function screenshot(p: Page, name: string): Promise<void> {
  const file = join(images, `dashboard-${name}.png`);
  if (process.env.GANTRY_UPDATE_SCREENSHOTS !== '1' && existsSync(file)) return;
  mkdirSync(images, { recursive: true });
  await p.screenshot({ path: file, fullPage: true });
}

describe.skipIf(missing)(`gantry dashboard in headless Chromium${missing ? ` — skipped: ${missing}` : ''}`, () => {
  beforeAll(async () => {
    if (!existsSync(join(packageRoot(), 'dist', 'dashboard'))) throw new Error('run `npm run build` first (dist/dashboard is missing)');
    // the sandbox's API server is the run's ground (vitest.config.ts), as in sandbox-e2e
    const ground = process.env.GANTRY_TEST_APISERVER === 'real' ? 'real' : 'emulated';
    up = spawn(process.execPath, [gantryBin(), 'sandbox', 'up', '--state-dir', dir, '--nodes', '3', '--apiserver', ground], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const u = up;
    u.stdout!.on('data', (d) => (upOut += d));
    u.stderr!.on('data', (d) => (upOut += d));
    upExited = new Promise((r) => u.once('exit', r));
    const deadline = Date.now() + 180_000;
    while (!upOut.includes('The sandbox is up')) {
      if (u.exitCode !== null || Date.now() > deadline) throw new Error(`the sandbox did not come up:\n${upOut}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    browser = await openBrowser();
    dashboard = await startDashboard(kubeconfig, env);
    page = await browser.newPage({ width: 1280, height: 900 });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await dashboard?.stop();
    if (up && up.exitCode === null) {
      up.kill('SIGTERM');
      await upExited;
    }
    killMarked(dir);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it(
    'loads and goes live, showing the sandbox’s example Provider ready on a node',
    async () => {
      await page.goto(dashboard!.url);
      await pageState('the event stream to go live', () => document.body.dataset.stream === 'live');
      await pageState(
        'echo 1/1 ready with one Running cell',
        () =>
          document.querySelector('[data-provider="default/echo"] [data-field="ready"]')?.textContent?.trim() === '1/1' &&
          document.querySelectorAll('[data-instance^="default/echo-"][data-phase="Running"]').length === 1,
      );
      // the placement map has every sandbox node, even those with nothing on them
      const nodes = await page.$$eval('[data-node]', (els) => els.map((e) => e.getAttribute('data-node')).sort());
      expect(nodes).toEqual(['gantry-node-1', 'gantry-node-2', 'gantry-node-3']);
    },
    TEST_TIMEOUT,
  );

  it(
    'shows a scale from 1 to 3: 3/3 ready and three Running cells, one per node',
    async () => {
      const before = await page.evaluate(() => document.body.dataset.stateAt);
      await kube('patch', 'provider', 'echo', '-n', 'default', '--type', 'merge', '-p', '{"spec":{"replicas":3}}');
      await pageState(
        'echo 3/3 ready with three Running cells',
        () =>
          document.querySelector('[data-provider="default/echo"] [data-field="ready"]')?.textContent?.trim() === '3/3' &&
          document.querySelectorAll('[data-instance^="default/echo-"][data-phase="Running"]').length === 3,
      );
      // it arrived live: a newer state than the one the page showed before the patch, without a reload
      expect(await page.evaluate(() => document.body.dataset.stateAt)).not.toBe(before);
      const cells = await page.evaluate(cellsOf, 'echo');
      expect(cells.map((c) => c.phase)).toEqual(['Running', 'Running', 'Running']);
      expect(new Set(cells.map((c) => c.node)).size).toBe(3);
    },
    TEST_TIMEOUT,
  );

  it(
    'shows an instance whose host leaked past resources.memory as OOM-killed',
    async () => {
      await publishFaulty();
      await pageState(
        'faulty 1/1 ready',
        () => document.querySelector('[data-provider="default/faulty"] [data-field="ready"]')?.textContent?.trim() === '1/1',
      );
      // 16 MiB is under the 160 MiB limit; 64 MiB at a time passes it within a few calls, and the
      // agent kills the host (RSS poll or memory cgroup: test/agent/limits.test.ts)
      expect(await gantry('call', 'faulty', 'Leak', '--data', JSON.stringify({ bytes: 16 * 2 ** 20 }))).toMatch(/leaked/);
      for (let i = 0; i < 6; i++) {
        const r = await run(process.execPath, [gantryBin(), 'call', 'faulty', 'Leak', '--data', JSON.stringify({ bytes: 64 * 2 ** 20 })]);
        if (r.status !== 0) break;
      }
      await pageState('a faulty cell with an OOM kill', () =>
        [...document.querySelectorAll('[data-instance^="default/faulty-"]')].some((c) => Number(c.getAttribute('data-oom-kills')) >= 1),
      );
      // the cluster agrees with what the page shows
      const instances = JSON.parse(await kube('get', 'providerinstances', '-n', 'default', '-o', 'json')).items as {
        spec: { provider: string };
        status?: { lastTermination?: { reason?: string } };
      }[];
      expect(instances.filter((i) => i.spec.provider === 'faulty').map((i) => i.status?.lastTermination?.reason)).toContain('OOMKilled');
      // restarted with backoff, and the cell still says it was OOM-killed
      await pageState('the OOM-killed host back to Running, restarted', () =>
        [...document.querySelectorAll('[data-instance^="default/faulty-"][data-phase="Running"]')].some(
          (c) => Number(c.getAttribute('data-restarts')) >= 1 && Number(c.getAttribute('data-oom-kills')) >= 1,
        ),
      );
      await pageState(
        'faulty 1/1 ready again',
        () => document.querySelector('[data-provider="default/faulty"] [data-field="ready"]')?.textContent?.trim() === '1/1',
      );
    },
    TEST_TIMEOUT,
  );

  it(
    'shows call rate, latency and failures per Provider, from the agents’ call metrics',
    async () => {
      const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
      const nc = await connectNats({ servers: run.natsUrl, credsFile: run.natsCreds, tls: { caFile: run.natsCa } });
      // calls keep coming until the page shows them: the figures are rates over the dashboard's last scrape
      let calling = true;
      const load = (async () => {
        while (calling) {
          await callProvider(nc, { namespace: 'default', provider: 'echo', op: 'Echo', data: 'hi', timeoutMs: 5000 });
          await callProvider(nc, { namespace: 'default', provider: 'faulty', op: 'Error', timeoutMs: 5000 }).catch(() => {});
          await new Promise((r) => setTimeout(r, 20)); // pacing, so two cores keep room for the page
        }
      })();
      try {
        await pageState('echo with a call rate and a p50, faulty with failed calls', () => {
          const calls = (p: string) => document.querySelector(`[data-provider="default/${p}"] [data-field="calls"]`)?.textContent ?? '';
          return /^[1-9]|^0\.0[1-9]|^0\.[1-9]/.test(calls('echo')) && /p50 \d/.test(calls('echo')) && /failed/.test(calls('faulty'));
        });
        await screenshot(page, 'wide');
      } finally {
        calling = false;
        await load;
        await nc.close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'at 375×800 nothing scrolls sideways and the providers, nodes and cells stay visible',
    async () => {
      const narrow = await browser!.newPage({ width: 375, height: 800 });
      await narrow.goto(dashboard!.url);
      await pageState(
        'the narrow page live with echo 3/3',
        () =>
          document.body.dataset.stream === 'live' &&
          document.querySelector('[data-provider="default/echo"] [data-field="ready"]')?.textContent?.trim() === '3/3',
        narrow,
      );
      const widths = await narrow.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
      expect(widths.scroll).toBeLessThanOrEqual(widths.inner);
      for (const sel of [
        '[data-provider="default/echo"]',
        '[data-provider="default/faulty"]',
        '[data-node="gantry-node-1"]',
        '[data-node="gantry-node-3"]',
        '[data-instance^="default/echo-"]',
      ])
        expect(await narrow.locator(sel).first().isVisible(), `${sel} visible at 375 px`).toBe(true);
      // nothing is cut off at the right edge: the page's body hides sideways overflow, so an element
      // past the edge would be clipped unseen — unless a box that scrolls sideways holds it (a wide table)
      const cutOff = await narrow.evaluate(() => {
        const scrolls = (e: PageElement) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
        const held = (e: PageElement) => {
          for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) if (scrolls(a)) return true;
          return false;
        };
        return [...document.querySelectorAll('body *')]
          .filter((e) => e.getClientRects().length > 0 && e.getBoundingClientRect().right > window.innerWidth + 1 && !held(e))
          .map((e) => e.tagName + (e.id ? `#${e.id}` : '') + (e.className ? `.${String(e.className).split(' ')[0]}` : ''))
          .slice(0, 5);
      });
      expect(cutOff).toEqual([]);
      // and what says whether a Provider is up is on screen without scrolling anything
      for (const sel of ['[data-provider="default/echo"] > :first-child', '[data-provider="default/echo"] [data-field="ready"]']) {
        const box = await narrow.locator(sel).boundingBox();
        expect(box && box.x >= 0 && box.x + box.width <= 375, `${sel} within the 375 px viewport: ${JSON.stringify(box)}`).toBe(true);
      }
      await screenshot(narrow, 'narrow');
    },
    TEST_TIMEOUT,
  );

  it('had no console errors and no page errors over the whole file', () => {
    expect(browser!.errors()).toEqual([]);
  });
});

/** Signs providers/build/faulty.so with the sandbox's dev issuer, pushes it, and applies a Provider limited to 160 MiB. */
async function publishFaulty(): Promise<void> {
  const registry = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')).registry.location as string;
  const issuerSeed = join(dir, 'keys', 'account.nk');
  const issuer = (await gantry('keys', 'public', issuerSeed)).trim();
  const par = join(dir, 'faulty.par');
  const lib = join(packageRoot(), 'providers', 'build', 'faulty.so');
  await gantry(
    ...['par', 'create', '--name', 'faulty', '--vendor', 'gantry.dev', '--capid', 'gantry:faulty', '--version', '0.1.0'],
    ...['--revision', '1', '--issuer', issuerSeed, '--binary', `${hostTarget()}=${lib}`, '-o', par],
  );
  await gantry('par', 'push', par, `${registry}/examples/faulty`, '--plain-http', '--trusted-issuer', issuer);
  const manifest = join(dir, 'faulty.yaml');
  writeFileSync(
    manifest,
    `apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata: {name: faulty, namespace: default}\nspec:\n` +
      `  archive: {ref: ${registry}/examples/faulty}\n  capabilityId: gantry:faulty\n  resources: {memory: 160Mi}\n`,
  );
  await kube('apply', '-f', manifest);
}
