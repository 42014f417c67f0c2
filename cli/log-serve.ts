/**
 * `gantry log serve`: run the log sequencer for one or more repositories (docs/transparency.md
 * "The sequencer", docs/operations.md). It takes each repository's lease, waits the timing
 * rule's confirmation D so appends already under way finish, then serves POST /v1/append and
 * POST /v1/consistent. SIGTERM or SIGINT: stop taking requests, finish those under way, release
 * the leases (pushes with --log-key work again), exit 0.
 */
import type { Command } from 'commander';
import { openArchiveStore, openContentBackend } from '../registry/index.js';
import { releaseLease, Sequencer, listenSequencer, takeLease, type ServedLog } from '../tlog/index.js';
import { cliError } from './keys.js';
import { readLogSigner } from './par-registry.js';
import { mappedRef, out, parseArchiveRefForCli, registryOptions, run, storeOptions, type CommonFlags } from './registry-flags.js';

interface ServeFlags extends CommonFlags {
  logKey: string;
  listen: string;
  url?: string;
  leaseWaitMs: string;
  takeOver?: boolean;
}

export function registerServe(log: Command): void {
  registryOptions(
    log
      .command('serve')
      .description("append to repositories' logs as their one writer (the sequencer): pushes use --log-sequencer URL")
      .argument('<ref...>', 'the repositories: HOST[:PORT]/REPOSITORY or short names mapped in gantry.namespaces.yaml')
      .requiredOption('--log-key <file>', 'the log signer key (the same key `par push --log-key` signs with)')
      .option('--listen <host:port>', 'where to serve the HTTP API', '127.0.0.1:7480')
      .option('--url <url>', 'the URL pushers reach it at, written into each lease (default: http://<listen>)')
      .option(
        '--lease-wait-ms <ms>',
        'how long to wait after taking a lease before serving: the confirmation D of the pushes it replaces',
        '1500',
      )
      .option('--take-over', 'take a lease another sequencer still holds (only when that sequencer is dead)'),
  ).action(async (refs: string[], flags: ServeFlags) => run(() => serve(refs, flags)));
}

function listenAddress(listen: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw cliError(`--listen must be HOST:PORT, got "${listen}"`, 2);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

async function serve(names: string[], flags: ServeFlags): Promise<void> {
  const signer = readLogSigner(flags.logKey);
  if (!flags.trustedIssuer?.length) throw cliError('serve needs the issuers whose archives it logs: --trusted-issuer A…', 2);
  const waitMs = Number(flags.leaseWaitMs);
  if (!Number.isSafeInteger(waitMs) || waitMs < 0)
    throw cliError(`--lease-wait-ms must be a non-negative integer, got "${flags.leaseWaitMs}"`, 2);
  const { host, port } = listenAddress(flags.listen);
  if (flags.url !== undefined && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(flags.url))
    throw cliError(`--url must be an http(s) URL, got "${flags.url}"`, 2);
  const repos = names.map((name) => {
    const f = { ...flags };
    const ref = mappedRef(name, f);
    if (parseArchiveRefForCli(ref).kind !== 'registry')
      throw cliError(`${ref}: a sequencer appends to registry repositories, not oci-layout directories`, 2);
    const opts = storeOptions(ref, f);
    return { ref, store: openArchiveStore(ref, opts), backend: openContentBackend(ref, opts) };
  });
  // listen first (a port already in use fails before any lease is taken); serve after the leases
  let server: Awaited<ReturnType<typeof listenSequencer>>;
  try {
    server = await listenSequencer(host, port);
  } catch (e) {
    throw cliError(`cannot listen on ${host}:${port}: ${(e as Error).message}`, 1);
  }
  const url = flags.url ?? server.url;
  const logs: ServedLog[] = [];
  try {
    for (const r of repos) logs.push({ ...r, lease: await takeLease(r.backend, { url, waitMs, takeOver: flags.takeOver }) });
  } catch (e) {
    await release(logs);
    await server.close();
    throw e;
  }
  const seq = new Sequencer(signer, logs, flags.trustedIssuer);
  server.serve(seq);
  if (flags.json) out(JSON.stringify({ url, repositories: logs.map((l) => l.ref) }));
  else out(`serving ${url} for ${logs.map((l) => l.ref).join(', ')}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await server.close();
  await seq.drain();
  await release(logs);
  if (!flags.json) out(`released ${logs.map((l) => l.ref).join(', ')}`);
}

async function release(logs: ServedLog[]): Promise<void> {
  for (const l of logs) {
    try {
      await releaseLease(l.backend, l.lease);
    } catch (e) {
      process.stderr.write(`cannot release the lease of ${l.ref}: ${(e as Error).message}\n`);
    }
  }
}
