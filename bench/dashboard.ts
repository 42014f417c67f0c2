/**
 * The dashboard's first paint against a busy cluster: a 3-node sandbox running 100 instances
 * (10 echo Providers × 10 replicas, allowMultiplePerNode), `gantry dashboard` on it, and Debian's
 * headless Chromium loading the page. Per load: first paint and first contentful paint (the
 * page's own `(performance as unknown as PagePerformance).getEntriesByType('paint')`), the first state rendered
 * (`body[data-stream="live"]`), and all 100 instance cells rendered (`[data-instance]`, checked
 * every animation frame) — all from navigation start, in the page's clock.
 *
 * Baseline, side by side: the same page against a second 3-node sandbox with no Providers at all,
 * loaded alternately with the busy one in the same browser, so both see the same machine load.
 *
 * Run: npm run build && make -C providers && node dist/bench/dashboard.js [--rounds N] [--providers N] [--replicas N]
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, loadKubeConfig, resourcePath } from '../runtime/kube.js';
import { type Sandbox, startSandbox } from '../sandbox/launcher/sandbox.js';
import { type BrowserSession, chromiumMissing, openBrowser } from './support/browser.js';
import { type DashboardProcess, startDashboard } from './support/dashboard-process.js';
import { median } from './timing.js';

// page-side globals (this Node program has no DOM types)
declare const document: { body: { dataset: Record<string, string | undefined> }; querySelectorAll(s: string): { length: number } };

/** The browser's performance (Node's types know no 'paint' entries); a cast only, erased before the page runs it. */
interface PagePerformance {
  getEntriesByType(type: string): { name: string; startTime: number }[];
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

interface Side {
  name: string;
  stateDir: string;
  sb: Sandbox;
  kube: KubeClient;
  dashboard?: DashboardProcess;
  /** Instance cells the page must show. */
  cells: number;
}

interface Load {
  firstPaint: number;
  firstContentfulPaint: number;
  live: number;
  allCells: number;
}

async function startSide(name: string): Promise<Side> {
  const stateDir = mkdtempSync(join(tmpdir(), `gantry-bench-dashboard-${name}-`));
  const out = createWriteStream(join(stateDir, 'sandbox-output.log'));
  const sb = await startSandbox({ stateDir, nodes: '3', skipExamples: true, out });
  const kube = new KubeClient(loadKubeConfig({ kubeconfigPath: sb.kubeconfigPath }));
  return { name, stateDir, sb, kube, cells: 0 };
}

async function stopSide(s: Side): Promise<void> {
  await s.dashboard?.stop();
  s.kube.close();
  await s.sb.stop();
  rmSync(s.stateDir, { recursive: true, force: true });
}

const providers = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providers', namespace: 'default' });
const instances = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: 'default' });

/** `count` echo Providers of `replicas` each; resolves when every instance is Running. */
async function populate(s: Side, count: number, replicas: number): Promise<number> {
  const echo = s.sb.archives.find((a) => a.name === 'echo');
  if (!echo) throw new Error('bench: the sandbox published no echo archive');
  const t0 = performance.now();
  for (let i = 1; i <= count; i++)
    await s.kube.create(providers, {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name: `echo-${String(i).padStart(2, '0')}`, namespace: 'default' },
      spec: { archive: { ref: echo.ref }, replicas, allowMultiplePerNode: true },
    });
  const want = count * replicas;
  let running = 0;
  for (let i = 0; i < 1800; i++) {
    const list = await s.kube.list(instances);
    running = (list.items as { status?: { phase?: string } }[]).filter((x) => x.status?.phase === 'Running').length;
    if (running === want) {
      s.cells = want;
      return performance.now() - t0;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`bench: ${running} of ${want} instances Running after 30 minutes`);
}

/** One page load in a fresh context (no cache): the page's paint entries and when the cells were all there. */
async function load(browser: BrowserSession, s: Side): Promise<Load> {
  const page = await browser.newPage({ width: 1280, height: 900 });
  try {
    await page.goto(s.dashboard!.url);
    const live = await page.waitForFunction(() => document.body.dataset.stream === 'live' && performance.now(), undefined, {
      polling: 'raf',
      timeout: 120_000,
    });
    const all = await page.waitForFunction(
      (n) => document.body.dataset.stream === 'live' && document.querySelectorAll('[data-instance]').length >= n && performance.now(),
      s.cells,
      {
        polling: 'raf',
        timeout: 120_000,
      },
    );
    const paints = await page.evaluate(() =>
      (performance as unknown as PagePerformance).getEntriesByType('paint').map((e) => ({ name: e.name, startTime: e.startTime })),
    );
    const paint = (n: string) => paints.find((p) => p.name === n)?.startTime ?? Number.NaN;
    return {
      firstPaint: paint('first-paint'),
      firstContentfulPaint: paint('first-contentful-paint'),
      live: (await live.jsonValue()) as number,
      allCells: (await all.jsonValue()) as number,
    };
  } finally {
    await page.context().close();
  }
}

function report(rounds: number, full: Side, empty: Side, f: Load[], e: Load[]): void {
  const row = (label: string, key: keyof Load) => {
    const a = median(f.map((x) => x[key]));
    const b = median(e.map((x) => x[key]));
    console.log(
      `${label.padEnd(34)} ${a.toFixed(0).padStart(6)} ms   baseline ${b.toFixed(0).padStart(6)} ms   ${(a / b).toFixed(2)}×   ` +
        `(runs: ${f.map((x) => x[key].toFixed(0)).join(', ')} | ${e.map((x) => x[key].toFixed(0)).join(', ')})`,
    );
  };
  console.log(
    `rounds: ${rounds}, medians from navigation start; ${full.name}: ${full.cells} instances on ${full.sb.nodes.length} nodes, ` +
      `baseline ${empty.name}: ${empty.cells} instances on ${empty.sb.nodes.length} nodes`,
  );
  row('first paint', 'firstPaint');
  row('first contentful paint', 'firstContentfulPaint');
  row('first state rendered (live)', 'live');
  row(`all ${full.cells} instance cells rendered`, 'allCells');
}

async function main(): Promise<void> {
  const missing = chromiumMissing();
  if (missing) {
    console.log(`bench/dashboard skipped: ${missing}`);
    return;
  }
  const rounds = arg('--rounds', 10);
  const count = arg('--providers', 10);
  const replicas = arg('--replicas', 10);
  const full = await startSide('busy');
  const empty = await startSide('empty');
  let browser: BrowserSession | undefined;
  try {
    const populated = await populate(full, count, replicas);
    console.log(`${count * replicas} instances Running ${(populated / 1000).toFixed(1)} s after the Providers were created`);
    full.dashboard = await startDashboard(full.sb.kubeconfigPath);
    empty.dashboard = await startDashboard(empty.sb.kubeconfigPath);
    const state = await (await fetch(new URL('api/state', full.dashboard.url))).text();
    console.log(`state of the busy cluster: ${(state.length / 1024).toFixed(0)} KiB of JSON`);
    browser = await openBrowser();
    // one warm-up load each (Chromium's own start-up, the servers' first watch), not counted
    await load(browser, full);
    await load(browser, empty);
    const f: Load[] = [];
    const e: Load[] = [];
    for (let r = 0; r < rounds; r++) {
      f.push(await load(browser, full));
      e.push(await load(browser, empty));
    }
    const errors = browser.errors();
    if (errors.length) throw new Error(`bench: the page logged errors:\n${errors.join('\n')}`);
    report(rounds, full, empty, f, e);
  } finally {
    await browser?.close();
    await stopSide(full);
    await stopSide(empty);
  }
  console.log(
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')} (${availableParallelism()} CPUs)`,
  );
}

await main();
