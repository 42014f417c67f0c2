/**
 * `gantry log monitor REF… --state FILE [--interval D]`: a monitor in the SIG-registries sense
 * ("is this checkpoint valid to you?"). Each round it reads every REF's log — the same
 * repository may be named through several registries (an origin and its mirrors: all of them
 * carry the origin's log, with the origin's origin line and key) — and checks:
 *
 *   - each log end to end (tlog verifyLog: checkpoint signatures, roots, entries against tags);
 *   - each REF against what it served last round (the state file): no smaller tree
 *     (TLOG_ROLLBACK), no other history (TLOG_FORK);
 *   - all REFs of one origin against each other and against the largest checkpoint ever seen
 *     for it: a smaller tree must be a prefix of the larger one (a mirror may lag, never differ).
 *
 * The state file (JSON, written atomically after every agreeing round and never after a
 * disagreeing one) is the monitor's memory across runs. Without --interval it runs one round;
 * with it, it repeats until a disagreement or a signal. Exit 0: all agree; 1: a disagreement
 * (reported on stderr, one line per finding, each with its code); 2: usage. A registry that
 * cannot be reached is reported and retried next round (it is not evidence of a lie); in a
 * single round it exits 1.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { atomicWrite, openContentBackend } from '../registry/index.js';
import {
  decodeBase64,
  emptyRoot,
  encodeBase64,
  hashesEqual,
  isTlogError,
  verifyLog,
  type Checkpoint,
  type LogReader,
} from '../tlog/index.js';
import { cliError } from './keys.js';
import { verifiersOf } from './log-federation.js';
import { openLogReader } from './log-reader.js';
import { mapCliRef } from './namespaces.js';
import { parseDuration } from './options.js';
import { boundMappedKey, out, registryOptions, run, storeOptions, type CommonFlags } from './registry-flags.js';

const Seen = z.object({ size: z.int().min(0), rootHash: z.string(), checkpoint: z.string(), at: z.string() });
const State = z.object({
  version: z.literal(1),
  /** per origin: the largest checkpoint seen (from any source) */
  logs: z.record(z.string(), Seen.extend({ source: z.string() })),
  /** per REF: its origin and the last checkpoint it served */
  sources: z.record(z.string(), Seen.extend({ origin: z.string() })),
});
type State = z.infer<typeof State>;

export interface Finding {
  code: string;
  source: string;
  message: string;
}

function readState(path: string): State {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, logs: {}, sources: {} };
    throw cliError(`--state ${path}: ${(e as Error).message}`, 2);
  }
  try {
    return State.parse(JSON.parse(text));
  } catch (e) {
    throw cliError(`--state ${path} is not a monitor state file: ${(e as Error).message}; move it away to start afresh`, 2);
  }
}

interface Observed {
  source: string;
  origin: string;
  log: LogReader;
  checkpoint: Checkpoint;
  note: string;
}

const cp = (size: number, rootHash: string, origin: string): Checkpoint => ({
  origin,
  size,
  root: decodeBase64(rootHash) ?? new Uint8Array(32),
  extensions: [],
});

/**
 * Whether `big`'s log agrees with the smaller checkpoint `small`: the root its tree gives at
 * small's size, from the O(log n) tiles that authenticate it against big's signed root (not
 * every leaf). A finding when it does not (TLOG_FORK), or when big's tiles fail (their code).
 */
async function disagreement(
  big: Observed,
  small: Checkpoint,
  fork: (root: Uint8Array | undefined) => string,
): Promise<Finding | undefined> {
  if (small.size > big.checkpoint.size) return { code: 'TLOG_FORK', source: big.source, message: fork(undefined) };
  try {
    const root =
      small.size === big.checkpoint.size
        ? big.checkpoint.root
        : small.size === 0
          ? emptyRoot()
          : await big.log.tree(big.checkpoint).rootAt(small.size);
    return hashesEqual(root, small.root) ? undefined : { code: 'TLOG_FORK', source: big.source, message: fork(root) };
  } catch (e) {
    if (!isTlogError(e)) throw e;
    return { code: e.code, source: big.source, message: `${big.source}: ${e.message}` };
  }
}

/** One round over every source; returns the findings and, when there are none, the next state. */
export async function monitorRound(
  sources: { name: string; ref: string; origin: string; opts: ReturnType<typeof storeOptions> }[],
  verifiers: ReturnType<typeof verifiersOf>,
  state: State,
): Promise<{ findings: Finding[]; unreachable: Finding[]; observed: Observed[]; next: State }> {
  const findings: Finding[] = [];
  const unreachable: Finding[] = [];
  const observed: Observed[] = [];
  const now = new Date().toISOString();
  for (const s of sources) {
    const backend = openContentBackend(s.ref, s.opts);
    try {
      const prev = state.sources[s.name];
      const v = await verifyLog(backend, {
        verifiers,
        origin: s.origin,
        ...(prev && prev.origin === s.origin ? { trusted: prev.checkpoint } : {}),
      });
      for (const p of v.problems) findings.push({ code: p.code, source: s.name, message: p.message });
      if (!v.checkpoint) continue;
      // not the CLI's tile cache: a monitor compares registries and reads what each one serves now
      const log = await openLogReader(backend, s.origin, false);
      observed.push({ source: s.name, origin: s.origin, log, checkpoint: v.checkpoint.checkpoint, note: v.checkpoint.note });
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'ERROR';
      unreachable.push({ code, source: s.name, message: (e as Error).message });
    }
  }
  // across sources of one origin, and against the largest checkpoint ever seen for it
  const byOrigin = new Map<string, Observed[]>();
  for (const o of observed) byOrigin.set(o.origin, [...(byOrigin.get(o.origin) ?? []), o]);
  const next: State = { version: 1, logs: { ...state.logs }, sources: { ...state.sources } };
  for (const [origin, list] of byOrigin) {
    const largest = list.reduce((a, b) => (b.checkpoint.size > a.checkpoint.size ? b : a));
    for (const o of list) {
      if (o === largest) continue;
      const f = await disagreement(
        largest,
        o.checkpoint,
        (theirs) =>
          `${o.source} serves ${origin} at size ${o.checkpoint.size} with root ${encodeBase64(o.checkpoint.root)}, but ${largest.source}'s log (size ${largest.checkpoint.size}) has root ${theirs ? encodeBase64(theirs) : '(none)'} at that size: the two registries show different histories`,
      );
      if (f) findings.push(f.code === 'TLOG_FORK' ? { ...f, source: o.source } : f);
    }
    const known = state.logs[origin];
    if (known) {
      const k = cp(known.size, known.rootHash, origin);
      if (largest.checkpoint.size < known.size) {
        findings.push({
          code: 'TLOG_ROLLBACK',
          source: largest.source,
          message: `${origin}: the largest checkpoint served now (size ${largest.checkpoint.size}, by ${largest.source}) is smaller than the size ${known.size} seen before (from ${known.source} at ${known.at})`,
        });
      } else {
        const f = await disagreement(
          largest,
          k,
          () =>
            `${origin}: ${largest.source}'s log does not extend the checkpoint of size ${known.size} seen before (from ${known.source} at ${known.at}): the history was rewritten`,
        );
        if (f) findings.push(f);
      }
    }
    if (!known || largest.checkpoint.size >= known.size)
      next.logs[origin] = {
        size: largest.checkpoint.size,
        rootHash: encodeBase64(largest.checkpoint.root),
        checkpoint: largest.note,
        at: now,
        source: largest.source,
      };
    for (const o of list)
      next.sources[o.source] = { origin, size: o.checkpoint.size, rootHash: encodeBase64(o.checkpoint.root), checkpoint: o.note, at: now };
  }
  return { findings, unreachable, observed, next };
}

type MonitorFlags = CommonFlags & { state: string; interval?: string; key?: string[]; origin?: string };
type Source = Parameters<typeof monitorRound>[0][number];

export function registerLogMonitor(log: Command): void {
  registryOptions(
    log
      .command('monitor')
      .description(
        'follow logs: verify each, its consistency with what it showed before, and agreement between registries serving the same log (exit 1 on any disagreement)',
      )
      .argument('<ref...>', 'repositories (HOST[:PORT]/REPOSITORY or mapped short names); several registries serving one log are compared')
      .requiredOption('--state <file>', "the monitor's memory (JSON): checkpoints seen, per repository and per log")
      .option('--interval <duration>', 'repeat every DURATION (e.g. 30s) until a disagreement or a signal; default: one round')
      .option(
        '--key <vkey...>',
        "trusted log verifier key(s) (name+hash+base64, or files holding them; also the namespace mapping's logKey)",
      )
      .option(
        '--origin <origin>',
        "the log origin every REF must carry (default: each REF's own HOST/REPOSITORY, or its mapping's origin registry)",
      ),
  ).action(async (refs: string[], flags: MonitorFlags) => run(() => monitor(refs, flags)));
}

/** Rounds until a disagreement, a signal, or (without --interval) the first round. */
async function monitor(refs: string[], flags: MonitorFlags): Promise<void> {
  const intervalMs = flags.interval !== undefined ? parseDuration(flags.interval, '--interval') : undefined;
  const { sources, keys } = monitoredSources(refs, flags);
  const verifiers = verifiersOf(keys);
  if (!verifiers.length)
    throw cliError('gantry log monitor: no log key (--key, or logKey in the namespace mapping); a monitor must check signatures', 2);
  let stop = false;
  const onSignal = () => (stop = true);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (let round = 1; ; round++) {
      const state = readState(flags.state);
      const r = await monitorRound(sources, verifiers, state);
      reportRound(round, r, flags);
      if (intervalMs === undefined) {
        if (r.unreachable.length) throw cliError(`gantry log monitor: ${r.unreachable.length} repository(ies) could not be read`, 1);
        return;
      }
      const until = Date.now() + intervalMs;
      while (!stop && Date.now() < until) await new Promise((res) => setTimeout(res, Math.min(100, until - Date.now())));
      if (stop) return;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Each REF through the namespace mapping (a mapping's via is read, its origin and log key kept), and the keys to trust. */
function monitoredSources(refs: string[], flags: MonitorFlags): { sources: Source[]; keys: string[] } {
  const keys = [...(flags.key ?? [])];
  const sources = refs.map((name) => {
    const m = mapCliRef(name);
    const f = { ...flags, plainHttp: flags.plainHttp || m.plainHttp };
    keys.push(...boundMappedKey(m));
    const ref = m.via ?? m.ref;
    return { name, ref, origin: flags.origin ?? m.ref, opts: storeOptions(ref, f) };
  });
  return { sources, keys };
}

/**
 * Prints a round: unreachable sources and disagreements on stderr (exit 1, the state file left
 * as it was), else the new state written and what each source showed.
 */
function reportRound(round: number, r: Awaited<ReturnType<typeof monitorRound>>, flags: MonitorFlags): void {
  for (const u of r.unreachable) process.stderr.write(`unreachable ${u.source}: ${u.code}: ${u.message}\n`);
  if (r.findings.length) {
    for (const f of r.findings) process.stderr.write(`DISAGREEMENT ${f.code} ${f.source}: ${f.message}\n`);
    if (flags.json) out(JSON.stringify({ round, ok: false, findings: r.findings, unreachable: r.unreachable }));
    throw cliError(
      `gantry log monitor: ${r.findings.length} disagreement(s); the state file ${flags.state} keeps the last agreeing view`,
      1,
    );
  }
  atomicWrite(flags.state, new TextEncoder().encode(JSON.stringify(r.next, null, 2) + '\n'));
  if (flags.json)
    out(
      JSON.stringify({
        round,
        ok: true,
        logs: r.observed.map((o) => ({
          source: o.source,
          origin: o.origin,
          size: o.checkpoint.size,
          root: encodeBase64(o.checkpoint.root),
        })),
        unreachable: r.unreachable,
      }),
    );
  else for (const o of r.observed) out(`ok ${o.source}: ${o.origin} size ${o.checkpoint.size} root ${encodeBase64(o.checkpoint.root)}`);
}
