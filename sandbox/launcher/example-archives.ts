/**
 * The example archives the sandbox publishes: it builds the C providers (`make -C providers`),
 * keeps a dev signing identity in DIR/keys (an account seed = the issuer the sandbox's
 * controller and agents trust, and a service seed = the archives' subject), signs one PAR per
 * example with a binary for this host's target, and pushes it as revision 1 unless the
 * registry already has a revision (a resumed sandbox publishes nothing twice).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { openArchiveStore } from '../../registry/index.js';
import { SandboxError } from './errors.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { requireExecutable } from './host.js';

export interface ExampleArchive {
  name: string;
  capid: string;
  /** providers/build/<library>.so */
  library: string;
  repository: string;
}

export const EXAMPLE_ARCHIVES: ExampleArchive[] = [
  { name: 'echo', capid: 'gantry:echo', library: 'echo', repository: 'examples/echo' },
  { name: 'keyvalue', capid: 'wascap:keyvalue', library: 'keyvalue', repository: 'examples/keyvalue' },
];

export interface DevKeys {
  accountSeed: string;
  serviceSeed: string;
  issuer: string;
}

/** Load the dev keys from DIR/keys, creating them on first use (0600: they sign what runs). */
export function devKeys(keysDir: string): DevKeys {
  const accountFile = join(keysDir, 'account.nk');
  const serviceFile = join(keysDir, 'service.nk');
  if (!existsSync(accountFile)) writeFileSync(accountFile, generateSeed('account') + '\n', { mode: 0o600 });
  if (!existsSync(serviceFile)) writeFileSync(serviceFile, generateSeed('service') + '\n', { mode: 0o600 });
  const accountSeed = readFileSync(accountFile, 'utf8').trim();
  const serviceSeed = readFileSync(serviceFile, 'utf8').trim();
  return { accountSeed, serviceSeed, issuer: publicKeyFromSeed(accountSeed) };
}

/** `make -C providers`, output to the log; a failure names the log. */
export function buildProviders(providersDir: string, logFile: string): void {
  const make = requireExecutable('make', 'make');
  const r = spawnSync(make, ['-s', '-C', providersDir], { encoding: 'utf8', timeout: 180_000 });
  appendFileSync(logFile, `$ make -s -C ${providersDir}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.status !== 0) {
    throw new SandboxError(
      'SANDBOX_PROCESS_FAILED',
      `building the example providers failed (make -C ${providersDir}, status ${r.status}); see ${logFile}:\n${(r.stderr ?? '').slice(-1500)}`,
    );
  }
}

export interface SignOptions {
  example: ExampleArchive;
  providersDir: string;
  target: string;
  keys: DevKeys;
  revision: number;
  version?: string;
}

export function signExample(o: SignOptions): Promise<Uint8Array> {
  const lib = join(o.providersDir, 'build', `${o.example.library}.so`);
  if (!existsSync(lib))
    throw new SandboxError('SANDBOX_PROCESS_FAILED', `${lib} is missing; build the providers with \`make -C providers\``);
  return createPar({
    name: o.example.name,
    vendor: 'gantry.dev',
    capid: o.example.capid,
    version: o.version ?? `0.${o.revision}.0`,
    revision: o.revision,
    issuerSeed: o.keys.accountSeed,
    subjectSeed: o.keys.serviceSeed,
    binaries: { [o.target]: new Uint8Array(readFileSync(lib)) },
  });
}

export interface PublishedArchive {
  name: string;
  ref: string;
  revision: number;
  digest: string;
  pushed: boolean;
}

/** Push revision 1 of each example unless the repository already holds a revision. */
export async function publishExamples(o: {
  refFor: (repository: string) => string;
  plainHttp: string[];
  providersDir: string;
  target: string;
  keys: DevKeys;
}): Promise<PublishedArchive[]> {
  const out: PublishedArchive[] = [];
  for (const example of EXAMPLE_ARCHIVES) {
    const ref = o.refFor(example.repository);
    const store = openArchiveStore(ref, { plainHttpRegistries: o.plainHttp, trustedIssuers: [o.keys.issuer] });
    const existing = await store.revisions().catch(() => []);
    if (existing.length > 0) {
      const top = existing.reduce((a, b) => (b.revision > a.revision ? b : a));
      out.push({ name: example.name, ref, revision: top.revision, digest: top.digest, pushed: false });
      continue;
    }
    const bytes = await signExample({ example, providersDir: o.providersDir, target: o.target, keys: o.keys, revision: 1 });
    const r = await store.push(bytes, { trustedIssuers: [o.keys.issuer] });
    out.push({ name: example.name, ref, revision: r.revision, digest: r.digest, pushed: true });
  }
  return out;
}
