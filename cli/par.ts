/**
 * `gantry par …`: Provider Archives. create, insert, inspect and verify live here; registry
 * transfers (push/pull/revisions) register themselves from par-registry.ts.
 *
 * Exit statuses: 0 ok; 1 the archive failed (verification, unreadable file, refused
 * structure); 2 usage errors. Errors name the file, the reason and the stable PAR_* code.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import {
  decodeSeed,
  createPar,
  generateSeed,
  insertTarget,
  inspectPar,
  isValidTarget,
  keyTypeOf,
  PAR_FORMATS,
  ParError,
  publicKeyFromSeed,
  verifyPar,
  type InspectedPar,
  type ParFormat,
  type VerifiedPar,
} from '../par/index.js';
import { cliError, readSeedFile, writeSeedFile } from './keys.js';
import { collect, parseDuration } from './options.js';
import { createFormat, parErrorToCli, readArchive, readBinaries, subjectSeedPath, writeAtomically, ZIP_NOTICE } from './par-files.js';
import { registerParRegistryCommands } from './par-registry.js';
import { claimRows, claimsSummary, table, targetRows } from './par-tables.js';

interface CreateFlags {
  name: string;
  vendor: string;
  capid?: string;
  version?: string;
  revision: string;
  issuer: string;
  subject?: string;
  binary: string[];
  format?: string;
  expires?: string;
  out: string;
  json?: boolean;
}

export function registerPar(program: Command): void {
  // `par create --version X` is the archive's version, not gantry's: root options (-V/--version)
  // must only be recognised before the subcommand.
  program.enablePositionalOptions();
  const par = program.command('par').description('create, inspect, verify and transfer Provider Archives');
  registerCreate(par);
  registerInsert(par);
  registerInspect(par);
  registerVerify(par);
  registerParRegistryCommands(par);
}

function registerCreate(par: Command): void {
  par
    .command('create')
    .description('create a signed Provider Archive')
    .requiredOption('--name <name>', 'provider name')
    .requiredOption('--vendor <vendor>', 'vendor')
    .option('--capid <capid>', 'capability contract id, e.g. wascap:keyvalue')
    .option('--version <version>', 'friendly version, e.g. 1.2.0')
    .option('--revision <n>', 'revision (non-negative integer)', '0')
    .requiredOption('--issuer <seedfile>', 'account seed file (SA…) that signs the claims')
    .option('--subject <seedfile>', 'service seed file (SV…); default: generated and saved next to the output')
    .option('--binary <target=path>', 'a target and its binary, e.g. x86_64-linux=./lib.so (repeatable)', collect, [])
    .option('--format <format>', 'zip | tar | tar.gz (default: from the output name — .zip, .tar, .par.gz/.tar.gz/.tgz/.gz — else tar)')
    .option('--expires <duration>', 'expire the claims after this long: 3600, 90m, 12h, 30d, 1y')
    .requiredOption('-o, --out <file>', 'output archive')
    .option('--json', 'print one JSON object')
    .action(createArchive);
}

async function createArchive(opts: CreateFlags): Promise<void> {
  if (!/^\d+$/.test(opts.revision)) throw cliError(`--revision ${JSON.stringify(opts.revision)}: expected a non-negative integer`, 2);
  if (opts.format !== undefined && !PAR_FORMATS.includes(opts.format as ParFormat)) {
    throw cliError(`--format ${JSON.stringify(opts.format)}: use zip, tar or tar.gz`, 2);
  }
  const format = createFormat(opts.format as ParFormat | undefined, opts.out);
  const expires = opts.expires !== undefined ? Math.round(parseDuration(opts.expires, '--expires', { positive: true }) / 1000) : undefined;
  const binaries = readBinaries(opts.binary);
  const issuerSeed = readSeedFile(opts.issuer);
  // checked before a subject key is generated, so a failed create leaves no new files behind
  const issuerType = decodeSeed(issuerSeed).type;
  if (issuerType !== 'account') throw cliError(`${opts.issuer}: issuer must be an account seed (SA…), got a ${issuerType} seed`, 1);
  const { subjectSeed, subjectNote } = subjectKey(opts);
  let bytes: Uint8Array;
  try {
    bytes = await createPar({
      name: opts.name,
      vendor: opts.vendor,
      capid: opts.capid,
      version: opts.version,
      revision: Number(opts.revision),
      issuerSeed,
      subjectSeed,
      binaries,
      format,
      expiresInSeconds: expires,
    });
  } catch (err) {
    parErrorToCli(opts.out, err);
  }
  writeAtomically(opts.out, bytes);
  if (format === 'zip') process.stderr.write(ZIP_NOTICE);
  const [issuer, subject] = [publicKeyFromSeed(issuerSeed), publicKeyFromSeed(subjectSeed)];
  const targets = Object.keys(binaries).sort();
  if (opts.json) {
    process.stdout.write(JSON.stringify({ file: opts.out, format, bytes: bytes.length, issuer, subject, targets }) + '\n');
    return;
  }
  process.stdout.write(
    table([
      ['wrote', `${opts.out} (${format}, ${bytes.length} bytes)`],
      ['issuer', issuer],
      ['subject', subject + subjectNote],
      ['targets', targets.join(', ')],
    ]),
  );
}

/**
 * The subject's seed: --subject, else the one saved next to the output by an earlier create,
 * else a new one saved there. The note says which, for the summary.
 */
function subjectKey(opts: Pick<CreateFlags, 'subject' | 'out'>): { subjectSeed: string; subjectNote: string } {
  let subjectSeed: string;
  let subjectNote = '';
  if (opts.subject) {
    subjectSeed = readSeedFile(opts.subject);
  } else {
    const path = subjectSeedPath(opts.out);
    if (existsSync(path)) {
      subjectSeed = readSeedFile(path);
      subjectNote = ` (reused ${path})`;
    } else {
      subjectSeed = generateSeed('service');
      writeSeedFile(path, subjectSeed);
      subjectNote = ` (new key, seed saved to ${path})`;
    }
  }
  return { subjectSeed, subjectNote };
}

function registerInsert(par: Command): void {
  par
    .command('insert')
    .description('add or replace a target in an archive and re-sign it (the archive must verify first)')
    .argument('<file>', 'archive to update in place')
    .option('--binary <target=path>', 'a target and its binary (repeatable)', collect, [])
    .requiredOption('--issuer <seedfile>', 'account seed file (SA…) that re-signs the claims')
    .action(async (file: string, opts: { binary: string[]; issuer: string }) => {
      const binaries = readBinaries(opts.binary);
      const issuerSeed = readSeedFile(opts.issuer);
      let bytes = readArchive(file);
      try {
        for (const [target, binary] of Object.entries(binaries)) bytes = await insertTarget(bytes, { target, binary, issuerSeed });
        const after = await verifyPar(bytes);
        writeAtomically(file, bytes);
        process.stdout.write(`updated ${file} (${after.format}, ${bytes.length} bytes)\n` + targetRows(after.targets));
      } catch (err) {
        parErrorToCli(file, err);
      }
    });
}

function registerInspect(par: Command): void {
  par
    .command('inspect')
    .description('show an archive’s claims and targets (reads it even when the signature is bad)')
    .argument('<file>', 'archive')
    .option('--json', 'print one JSON object')
    .action(inspectArchive);
}

async function inspectArchive(file: string, opts: { json?: boolean }): Promise<void> {
  const bytes = readArchive(file);
  let info: InspectedPar;
  try {
    info = await inspectPar(bytes);
  } catch (err) {
    parErrorToCli(file, err);
  }
  if (opts.json) {
    const targets: Record<string, { sha256: string; size: number; signedSha256: string | null; hashMatches: boolean }> = info.targets;
    process.stdout.write(
      JSON.stringify({
        file,
        ...claimsSummary(info.format, info.claims),
        targets,
        missingTargets: info.missingTargets,
        hashes: info.claims.hashes,
        configSchema: info.claims.configSchema ?? null,
        signature: info.signature,
        valid: info.problem === null,
        problem: info.problem,
      }) + '\n',
    );
    return;
  }
  const verdict = info.problem ? `FAILS VERIFICATION: ${info.problem.message} [${info.problem.code}]` : 'verifies (signature and hashes)';
  process.stdout.write(
    table([
      ['file', `${file} (${info.format}, ${bytes.length} bytes)`],
      ...claimRows(info.claims),
      ['signature', info.signature],
      ['status', verdict],
    ]) +
      '\n' +
      targetRows(info.targets, (t) => (info.targets[t].hashMatches ? '' : info.targets[t].signedSha256 ? '  MISMATCH' : '  UNSIGNED')) +
      info.missingTargets.map((t) => `${t}: signed but missing from the archive\n`).join(''),
  );
}

function registerVerify(par: Command): void {
  par
    .command('verify')
    .description('verify signature, issuer, subject, validity period and hashes; exit 0 valid, 1 invalid, 2 usage')
    .argument('<file>', 'archive')
    .option('--issuer <key>', 'trusted issuer account key (repeatable); default: any issuer', collect, [])
    .option('--target <target>', 'check and hash only this target, e.g. x86_64-linux')
    .option('--json', 'print one JSON object')
    .action(verifyArchive);
}

async function verifyArchive(file: string, opts: { issuer: string[]; target?: string; json?: boolean }): Promise<void> {
  for (const key of opts.issuer) {
    let type: string;
    try {
      type = keyTypeOf(key);
    } catch (err) {
      throw cliError(`--issuer ${JSON.stringify(key)}: ${(err as Error).message}`, 2);
    }
    if (type !== 'account') throw cliError(`--issuer ${key}: is a ${type} key; issuers are account keys (A…)`, 2);
  }
  if (opts.target !== undefined && !isValidTarget(opts.target)) {
    throw cliError(`--target ${JSON.stringify(opts.target)}: use <arch>-<os>, e.g. x86_64-linux`, 2);
  }
  const fail = (code: string, message: string): void => {
    if (opts.json) process.stdout.write(JSON.stringify({ valid: false, code, message, file }) + '\n');
    else process.stderr.write(`${file}: INVALID: ${message} [${code}]\n`);
    process.exitCode = 1;
  };
  let bytes: Uint8Array;
  try {
    bytes = readArchive(file);
  } catch (err) {
    fail('PAR_UNREADABLE', (err as Error).message);
    return;
  }
  let result: VerifiedPar;
  try {
    result = await verifyPar(bytes, {
      trustedIssuers: opts.issuer.length > 0 ? opts.issuer : undefined,
      target: opts.target,
    });
  } catch (err) {
    if (err instanceof ParError) return fail(err.code, err.message);
    throw err;
  }
  if (opts.json) {
    process.stdout.write(
      JSON.stringify({
        valid: true,
        code: null,
        message: 'archive verifies',
        file,
        ...claimsSummary(result.format, result.claims),
        targets: result.targets,
        target: opts.target ?? null,
      }) + '\n',
    );
    return;
  }
  const checked = opts.target ? `target ${opts.target}` : `${Object.keys(result.targets).length} target(s)`;
  const trust = opts.issuer.length > 0 ? 'trusted issuer' : 'any issuer (no --issuer given)';
  process.stdout.write(
    `${file}: VALID (${result.format}; signature, ${trust}, ${checked} hashed)\n` +
      table(claimRows(result.claims)) +
      '\n' +
      targetRows(result.targets),
  );
}
