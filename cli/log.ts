/**
 * `gantry log …`: read and check a repository's transparency log (docs/transparency.md).
 * `checkpoint` prints the latest signed checkpoint exactly as stored; `inclusion` and
 * `consistency` print proofs; `verify` checks every checkpoint, entry, tag and archive and,
 * with --trusted, that the log extends a checkpoint you saved before; `verify-note` checks any
 * signed note against one verifier key (exit 0 valid, 1 invalid, 2 usage); `keygen` makes a
 * log key pair. Hashes are printed in standard base64, as in checkpoints.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { cliError } from './keys.js';
import { mappedLogKey, mappedRef, out, registryOptions, run, storeOptions, type CommonFlags } from './registry-flags.js';
import { verifiersOf } from './log-federation.js';
import { registerServe } from './log-serve.js';
import { checkpointFor, consistencyOf, inclusionOf, withLog } from './log-reader.js';
import { openArchiveStore, openContentBackend } from '../registry/index.js';
import { encodeBase64, generateNoteKey, isTlogError, openNote, verifyLog, type LogReader } from '../tlog/index.js';

interface LogFlags extends CommonFlags {
  key?: string[];
  origin?: string;
}

const MAX_NOTE_BYTES = 1024 * 1024;

function readNoteFile(path: string, flag: string): string {
  try {
    if (statSync(path).size > MAX_NOTE_BYTES) throw cliError(`${flag} ${path}: larger than ${MAX_NOTE_BYTES} bytes, not a signed note`, 2);
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as { exitCode?: number }).exitCode) throw e;
    throw cliError(`${flag} ${path}: cannot read it: ${(e as Error).message}`, 2);
  }
}

function sizeArg(value: string, flag: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw cliError(`${flag} must be a non-negative integer, got "${value}"`, 2);
  return Number(value);
}

/**
 * A short name through the namespace mapping, as `gantry par` reads it; the mapping's log key
 * stands in for a missing --key.
 */
function mapRef(name: string, flags: LogFlags): string {
  const ref = mappedRef(name, flags);
  if (!flags.key?.length) {
    const keys = mappedLogKey(name);
    if (keys.length) flags.key = keys;
  }
  return ref;
}

/** The log through its tiles (O(log n) requests a proof, cached tiles reused), or the old way for a log without tiles. */
async function read<T>(name: string, flags: LogFlags, fn: (l: LogReader) => Promise<T>): Promise<T> {
  const ref = mapRef(name, flags);
  return withLog(openContentBackend(ref, storeOptions(ref, flags)), flags.origin, fn);
}

const b64 = (h: Uint8Array): string => encodeBase64(h);
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The registry options, plus the log's verifier keys and origin. */
const logOptions = (c: Command): Command =>
  registryOptions(c)
    .option('--key <vkey>', 'a trusted log verifier key (name+hash+base64), or a file holding such keys; repeatable', collect)
    .option('--origin <origin>', "the log's origin line when it is not HOST[:PORT]/REPOSITORY (e.g. reading through a mirror)");

export function registerLog(program: Command): void {
  const log = program.command('log').description("read and verify a repository's transparency log of published revisions");
  registerCheckpoint(log);
  registerInclusion(log);
  registerConsistency(log);
  registerVerify(log);
  registerVerifyNote(log);
  registerKeygen(log);
  registerServe(log);
}

function registerCheckpoint(log: Command): void {
  logOptions(
    log
      .command('checkpoint')
      .description('print the latest signed checkpoint exactly as stored')
      .argument('<ref>', 'HOST[:PORT]/REPOSITORY, a short name mapped in gantry.namespaces.yaml, or oci-layout:PATH'),
  ).action(async (ref: string, flags: LogFlags) => run(() => printCheckpoint(ref, flags)));
}

async function printCheckpoint(ref: string, flags: LogFlags): Promise<void> {
  // the keys after the name is mapped: the mapping's log key stands in for a missing --key
  const { origin, note, verified } = await read(ref, flags, async (l) => {
    const verifiers = verifiersOf(flags.key);
    const { note } = await checkpointFor(l, verifiers);
    return { origin: l.origin, verified: verifiers.length > 0, note };
  });
  if (flags.json) out(JSON.stringify({ origin, note, verified }, null, 2));
  else process.stdout.write(note);
}

function registerInclusion(log: Command): void {
  logOptions(
    log
      .command('inclusion')
      .description("print the inclusion proof of a revision's log entry in the latest checkpoint")
      .argument('<ref>', 'HOST[:PORT]/REPOSITORY, a short name mapped in gantry.namespaces.yaml, or oci-layout:PATH')
      .requiredOption('--revision <n>', 'the revision whose entry to prove'),
  ).action(async (ref: string, flags: LogFlags & { revision: string }) => run(() => printInclusion(ref, flags)));
}

async function printInclusion(ref: string, flags: LogFlags & { revision: string }): Promise<void> {
  const revision = sizeArg(flags.revision, '--revision');
  const { cp, p } = await read(ref, flags, async (l) => {
    const cp = await checkpointFor(l, verifiersOf(flags.key));
    return { cp, p: await inclusionOf(l, revision, cp.checkpoint) };
  });
  const result = {
    revision,
    index: p.index,
    treeSize: cp.checkpoint.size,
    leafHash: b64(p.leafHash),
    root: b64(cp.checkpoint.root),
    proof: p.proof.map(b64),
    digest: p.entry.digest,
    checkpointVerified: !!cp.verified,
  };
  if (flags.json) out(JSON.stringify(result, null, 2));
  else {
    out(
      `revision ${revision} is entry ${p.index} of the tree of size ${result.treeSize}${cp.verified ? ' (checkpoint verified)' : ' (checkpoint not verified: pass --key)'}`,
    );
    out(`digest ${p.entry.digest}`);
    out(`leaf ${result.leafHash}`);
    out(`root ${result.root}`);
    for (const h of result.proof) out(`proof ${h}`);
  }
}

function registerConsistency(log: Command): void {
  logOptions(
    log
      .command('consistency')
      .description('print the consistency proof from an earlier tree size to the latest checkpoint')
      .argument('<ref>', 'HOST[:PORT]/REPOSITORY, a short name mapped in gantry.namespaces.yaml, or oci-layout:PATH')
      .requiredOption('--from <size>', 'the earlier tree size')
      .option('--to <size>', 'the later tree size (default: the latest checkpoint)'),
  ).action(async (ref: string, flags: LogFlags & { from: string; to?: string }) => run(() => printConsistency(ref, flags)));
}

async function printConsistency(ref: string, flags: LogFlags & { from: string; to?: string }): Promise<void> {
  const from = sizeArg(flags.from, '--from');
  const { cp, to, c } = await read(ref, flags, async (l) => {
    const cp = await checkpointFor(l, verifiersOf(flags.key));
    const size = cp.checkpoint.size;
    const to = flags.to !== undefined ? sizeArg(flags.to, '--to') : size;
    if (to > size) throw cliError(`--to ${to} is beyond the latest checkpoint (size ${size})`, 2);
    return { cp, to, c: await consistencyOf(l, cp.checkpoint, from, to) };
  });
  const result = {
    from,
    to,
    fromRoot: b64(c.fromRoot),
    toRoot: b64(c.toRoot),
    proof: c.proof.map(b64),
    checkpointVerified: !!cp.verified,
  };
  if (flags.json) out(JSON.stringify(result, null, 2));
  else {
    out(
      `consistency of the tree of size ${from} with the tree of size ${to}${cp.verified ? ' (checkpoint verified)' : ' (checkpoint not verified: pass --key)'}`,
    );
    out(`root ${from} ${result.fromRoot}`);
    out(`root ${to} ${result.toRoot}`);
    for (const h of result.proof) out(`proof ${h}`);
  }
}

function registerVerify(log: Command): void {
  logOptions(
    log
      .command('verify')
      .description('check every checkpoint, entry, tag and archive of the log, and that it extends a checkpoint you trust')
      .argument('<ref>', 'HOST[:PORT]/REPOSITORY, a short name mapped in gantry.namespaces.yaml, or oci-layout:PATH')
      .option('--trusted <file>', 'a signed checkpoint saved earlier (e.g. from `gantry log checkpoint`); the log must extend it')
      .option('--save <file>', 'when the log verifies, write its latest checkpoint here (to pass as --trusted next time)')
      .option('--no-archives', 'compare digests only; do not pull and verify each archive'),
  ).action(async (name: string, flags: LogFlags & { trusted?: string; save?: string; archives: boolean }) =>
    run(() => verifyRepositoryLog(name, flags)),
  );
}

async function verifyRepositoryLog(name: string, flags: LogFlags & { trusted?: string; save?: string; archives: boolean }): Promise<void> {
  const ref = mapRef(name, flags);
  const verifiers = verifiersOf(flags.key);
  if (!verifiers.length) throw cliError('verify needs the log verifier key: --key name+hash+base64 (or a file holding it)', 2);
  const trusted = flags.trusted !== undefined ? readNoteFile(flags.trusted, '--trusted') : undefined;
  const opts = storeOptions(ref, flags);
  const store = openArchiveStore(ref, opts);
  const result = await verifyLog(openContentBackend(ref, opts), {
    verifiers,
    trusted,
    origin: flags.origin,
    readArchive: flags.archives
      ? async (digest) => {
          const c = (await store.pull(digest, { trustedIssuers: flags.trustedIssuer })).verified.claims;
          return { revision: c.revision, issuer: c.issuer, subject: c.subject, capid: c.capid, version: c.version };
        }
      : undefined,
  });
  if (result.ok && flags.save && result.checkpoint) writeFileSync(flags.save, result.checkpoint.note);
  if (flags.json) {
    out(
      JSON.stringify(
        {
          ok: result.ok,
          origin: result.origin,
          size: result.size,
          checkpointSize: result.checkpoint?.checkpoint.size ?? null,
          uncheckpointed: result.uncheckpointed,
          consistencyProof: result.consistencyProof?.map(b64) ?? null,
          problems: result.problems,
        },
        null,
        2,
      ),
    );
  } else if (result.ok) {
    out(
      `ok: ${result.origin}: ${result.size} entries, checkpoint of size ${result.checkpoint?.checkpoint.size}${trusted ? ', consistent with the trusted checkpoint' : ''}${result.uncheckpointed ? `; ${result.uncheckpointed} entries not checkpointed yet (push again to checkpoint them)` : ''}`,
    );
  }
  if (!result.ok) {
    if (!flags.json) for (const p of result.problems) process.stderr.write(`${p.code}: ${p.message}\n`);
    throw cliError(`${ref}: the log does not verify (${[...new Set(result.problems.map((p) => p.code))].join(', ')})`, 1);
  }
}

function registerVerifyNote(log: Command): void {
  log
    .command('verify-note')
    .description('verify any C2SP signed note against a verifier key (exit 0 valid, 1 invalid, 2 usage)')
    .argument('<file>', 'the signed note')
    .requiredOption('--key <vkey>', 'a verifier key (name+hash+base64), or a file holding such keys; repeatable', collect)
    .option('--json', 'print the result as JSON')
    .action(async (file: string, flags: { key: string[]; json?: boolean }) => {
      const verifiers = verifiersOf(flags.key);
      const note = readNoteFile(file, 'note');
      try {
        const opened = openNote(Buffer.from(note, 'utf8'), verifiers);
        const signedBy = opened.verified.map((s) => `${s.name}+${s.keyHash}`);
        if (flags.json) out(JSON.stringify({ valid: true, signedBy, text: opened.text }, null, 2));
        else out(`valid: signed by ${signedBy.join(', ')}`);
      } catch (e) {
        if (!isTlogError(e)) throw e;
        if (flags.json) out(JSON.stringify({ valid: false, code: e.code, message: e.message }, null, 2));
        throw cliError(`${e.code}: ${e.message}`, 1);
      }
    });
}

function registerKeygen(log: Command): void {
  log
    .command('keygen')
    .description('make a log key pair: the signer key goes to a file (for `par push --log-key`), the verifier key to stdout')
    .argument('<name>', 'the key name (no spaces or +), e.g. the origin registry/repository')
    .requiredOption('-o, --output <file>', 'where to write the signer key (mode 0600)')
    .action((name: string, flags: { output: string }) => {
      let keys: { signerKey: string; verifierKey: string };
      try {
        keys = generateNoteKey(name);
      } catch (e) {
        throw cliError((e as Error).message, 2);
      }
      if (existsSync(flags.output)) throw cliError(`${flags.output} exists; not overwriting a key`, 2);
      writeFileSync(flags.output, keys.signerKey + '\n', { mode: 0o600 });
      out(keys.verifierKey);
    });
}
