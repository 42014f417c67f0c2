/**
 * The agent's archive pipeline (agent/archive-pipeline.ts) on its own, against a real
 * docker-registry and real cache and binary store directories: what it refuses before it
 * fetches (spec, target, trust outside the cluster policy), that the cache is used only after
 * this instance's repository is shown to hold the digest, that the trust in force is the
 * policy narrowed by the instance, the capability and target checks on the verified archive,
 * and what it installs and reports; with sealed copies (agent/sealed-libraries.ts), that a
 * digest verified before re-checks its claims against each instance's trust and capability
 * without reading the archive again, and only while its cache files are the ones that
 * verified. The whole agent is exercised in agent.test.ts.
 */
import { createCurve } from '@nats-io/nkeys';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareBinary, type PipelineOptions } from '../../agent/archive-pipeline.js';
import { BinaryStore } from '../../agent/binaries.js';
import { SealedLibraries } from '../../agent/sealed-libraries.js';
import { AgentMetrics } from '../../agent/metrics.js';
import { RegistryAccess } from '../../agent/registry-access.js';
import { hostTarget } from '../../agent/target.js';
import type { ProviderInstance } from '../../api/index.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { ArchiveCache, openArchiveStore } from '../../registry/index.js';
import type { KubeClient } from '../../runtime/kube.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';

const host = hostTarget();
const foreign = host === 'aarch64-linux' ? 'x86_64-linux' : 'aarch64-linux';
const issuerA = generateSeed('account');
const issuerB = generateSeed('account');
const A = publicKeyFromSeed(issuerA);
const B = publicKeyFromSeed(issuerB);

let registry: RegistryServer;
let dir: string;
const binary = new Uint8Array(randomBytes(2000));
/** pushed archives: name → { ref, digest } */
const pushed: Record<string, { ref: string; digest: string }> = {};

async function push(name: string, repo: string, o: { issuer?: string; capid?: string; targets?: string[] } = {}) {
  const ref = `${registry.host}/${repo}`;
  const bytes = await createPar({
    name,
    vendor: 'tests',
    revision: 1,
    capid: o.capid,
    issuerSeed: o.issuer ?? issuerA,
    subjectSeed: generateSeed('service'),
    binaries: Object.fromEntries((o.targets ?? [host]).map((t) => [t, binary])),
  });
  pushed[name] = { ref, digest: (await openArchiveStore(ref, { plainHttpRegistries: [registry.host] }).push(bytes)).digest };
}

/** No instance here names pull secrets: the pipeline must not read the API server at all. */
const noApiServer = new Proxy(
  {},
  {
    get: (_t, p) => {
      throw new Error(`the pipeline read the API server (${String(p)}) for an instance without pull secrets`);
    },
  },
) as KubeClient;

let n = 0;
function options(over: Partial<PipelineOptions> = {}): PipelineOptions {
  const d = join(dir, `agent-${n++}`);
  return {
    kube: noApiServer,
    credentialsNamespace: 'gantry-nodes',
    sealKey: createCurve(),
    cache: new ArchiveCache(join(d, 'cache')),
    binaries: new BinaryStore(join(d, 'bin')),
    access: new RegistryAccess(),
    target: host,
    trustedIssuers: [A, B],
    plainHttpRegistries: [registry.host],
    ...over,
  };
}

function instance(archive: { ref: string; digest: string }, spec: Record<string, unknown> = {}): ProviderInstance {
  return {
    metadata: { name: 'echo-1', namespace: 'apps', uid: 'u1' },
    spec: { nodeName: 'n1', target: host, archive: { ...archive }, capid: 'tests:echo', ...spec },
  } as unknown as ProviderInstance;
}

async function refusal(p: Promise<unknown>): Promise<{ reason?: string; code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { reason?: string; code?: string; message: string };
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-pipeline-'));
  registry = await startRegistry();
  await push('echo', 'apps/echo', { capid: 'tests:echo' });
  await push('by-b', 'apps/by-b', { issuer: issuerB, capid: 'tests:echo' });
  await push('no-capid', 'apps/no-capid');
  await push('foreign-only', 'apps/foreign-only', { capid: 'tests:echo', targets: [foreign] });
  await push('both', 'apps/both', { capid: 'tests:echo', targets: [host, foreign] });
});

afterAll(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('prepareBinary', () => {
  it('installs the verified binary, reporting Fetching then Verifying, and names its capability and hash', async () => {
    const o = options();
    const phases: string[] = [];
    const got = await prepareBinary(o, instance(pushed.echo), (p) => phases.push(p));
    expect(phases).toEqual(['Fetching', 'Verifying']);
    expect(got.capid).toBe('tests:echo');
    expect(got.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(got.libraryPath)).toEqual(Buffer.from(binary));
    // no sealed copies kept by this pipeline: the host hashes the file
    expect(got.sealed).toBeUndefined();
  });

  it('counts a first fetch as a cache miss from the registry and the next as a hit, and names the steps of each for the start timeline', async () => {
    const metrics = new AgentMetrics();
    const o = options({ metrics });
    const steps: string[][] = [[], []];
    await prepareBinary(
      o,
      instance(pushed.echo),
      () => {},
      (s) => steps[0].push(s),
    );
    await prepareBinary(
      o,
      instance(pushed.echo),
      () => {},
      (s) => steps[1].push(s),
    );
    // the step names are the agent's start timeline (bench/agent-coldstart prints them)
    expect(steps).toEqual([
      ['credentials', 'accessChecked', 'pulledAndVerified'],
      ['credentials', 'accessChecked', 'cacheReadAndVerified'],
    ]);
    const requests = (await metrics.cacheRequests.get()).values.map((v) => [v.labels.result, v.value]);
    expect(Object.fromEntries(requests)).toEqual({ hit: 1, miss: 1 });
    const fetches = (await metrics.fetchDuration.get()).values
      .filter((v) => v.metricName?.endsWith('_count') && v.value > 0)
      .map((v) => `${v.labels.source}/${v.labels.result}`);
    expect(fetches.sort()).toEqual(['cache/ok', 'registry/ok']);
    const verifies = (await metrics.verifyDuration.get()).values
      .filter((v) => v.metricName?.endsWith('_count'))
      .map((v) => [v.labels.result, v.value]);
    expect(verifies).toEqual([['ok', 2]]);
  });

  it('reports a refused fetch and a refused check as errors, in seconds no longer than the calls took', async () => {
    const metrics = new AgentMetrics();
    const o = options({ metrics });
    const t0 = performance.now();
    await prepareBinary(o, instance(pushed.echo), () => {});
    await refusal(prepareBinary(o, instance(pushed['by-b'], { issuers: [A] }), () => {})); // refused by the cache's verification
    await refusal(prepareBinary(o, instance(pushed.echo, { capid: 'tests:other' }), () => {})); // refused after it
    const wall = (performance.now() - t0) / 1000;
    const counts = async (h: typeof metrics.fetchDuration) =>
      Object.fromEntries(
        (await h.get()).values
          .filter((v) => v.metricName?.endsWith('_count') && v.value > 0)
          .map((v) => [`${v.labels.source ?? '-'}/${v.labels.result}`, v.value]),
      );
    expect(await counts(metrics.fetchDuration)).toEqual({ 'registry/ok': 1, 'registry/error': 1, 'cache/ok': 1 });
    expect(await counts(metrics.verifyDuration)).toEqual({ '-/ok': 1, '-/error': 1 });
    for (const h of [metrics.fetchDuration, metrics.verifyDuration]) {
      const sum = (await h.get()).values.filter((v) => v.metricName?.endsWith('_sum')).reduce((n, v) => n + v.value, 0);
      expect(sum).toBeGreaterThanOrEqual(0);
      expect(sum).toBeLessThanOrEqual(wall);
    }
  });

  it('refuses an incomplete spec before fetching anything', async () => {
    const noSpec = { metadata: { name: 'bare', namespace: 'apps' } } as unknown as ProviderInstance;
    const cases = [
      { archive: { digest: pushed.echo.digest } },
      { archive: { ref: pushed.echo.ref } },
      { target: undefined },
      { archive: undefined },
    ].map((spec) => instance(pushed.echo, spec));
    for (const inst of [...cases, noSpec]) {
      const phases: string[] = [];
      const e = await refusal(prepareBinary(options(), inst, (p) => phases.push(p)));
      expect(e.reason).toBe('InvalidSpec');
      expect(e.message).toBe('spec.archive.ref, spec.archive.digest and spec.target are required');
      expect(phases).toEqual([]);
    }
  });

  it('refuses an instance bound to another target before fetching', async () => {
    const phases: string[] = [];
    const e = await refusal(prepareBinary(options(), instance(pushed.echo, { target: foreign }), (p) => phases.push(p)));
    expect(e.reason).toBe('TargetNotSupported');
    expect(e.message).toContain(`bound to target ${foreign}`);
    expect(phases).toEqual([]);
  });

  it('refuses an instance naming an issuer outside the policy, and anything under an empty policy, before fetching', async () => {
    const outsider = publicKeyFromSeed(generateSeed('account'));
    for (const [o, spec] of [
      [options(), { issuers: [A, outsider] }],
      [options({ trustedIssuers: [] }), {}],
    ] as const) {
      const phases: string[] = [];
      const e = await refusal(prepareBinary(o, instance(pushed.echo, spec), (p) => phases.push(p)));
      expect(e.reason).toBe('UntrustedIssuer');
      expect(phases).toEqual([]);
    }
    // the refusal names the instance, in the default namespace when it names none
    const named = await refusal(prepareBinary(options(), instance(pushed.echo, { issuers: [outsider] }), () => {}));
    expect(named.message).toContain(`apps/echo-1 spec.issuers names issuer ${outsider}`);
    const inDefault = instance(pushed.echo, { issuers: [outsider] });
    delete (inDefault.metadata as { namespace?: string }).namespace;
    expect((await refusal(prepareBinary(options(), inDefault, () => {}))).message).toContain('default/echo-1 spec.issuers');
  });

  it('the trust in force is the policy narrowed by the instance: an archive signed by B is refused for an instance that narrows to A, even from the cache', async () => {
    const o = options();
    await prepareBinary(o, instance(pushed['by-b']), () => {}); // cached, B is in the policy
    const e = await refusal(prepareBinary(o, instance(pushed['by-b'], { issuers: [A] }), () => {}));
    expect(e.code).toBe('PAR_UNTRUSTED_ISSUER');
    // and with the policy alone naming only A, the same
    const e2 = await refusal(prepareBinary(options({ trustedIssuers: [A] }), instance(pushed['by-b']), () => {}));
    expect(e2.code).toBe('PAR_UNTRUSTED_ISSUER');
  });

  it("uses a cached archive only once this instance's repository is shown to hold its digest", async () => {
    const o = options();
    await prepareBinary(o, instance(pushed.echo), () => {});
    // same digest, a repository that does not have it: refused although the cache holds the bytes
    const e = await refusal(prepareBinary(o, instance({ ref: `${registry.host}/apps/other`, digest: pushed.echo.digest }), () => {}));
    expect(e.code).toBe('NOT_FOUND');
    expect(o.access.checks).toBe(2);
  });

  it('refuses an archive whose signed capability is not the one the instance expects', async () => {
    const e = await refusal(prepareBinary(options(), instance(pushed.echo, { capid: 'tests:other' }), () => {}));
    expect(e.reason).toBe('CapabilityMismatch');
    expect(e.message).toContain('signed capid is tests:echo, but the instance expects tests:other');
  });

  it('takes the capability from the instance when the archive names none, and refuses when neither does', async () => {
    expect((await prepareBinary(options(), instance(pushed['no-capid'], { capid: 'tests:echo' }), () => {})).capid).toBe('tests:echo');
    const e = await refusal(prepareBinary(options(), instance(pushed['no-capid'], { capid: undefined }), () => {}));
    expect(e.reason).toBe('CapabilityMismatch');
    expect(e.message).toBe('neither the archive claims nor the instance name a capability id');
  });

  it('refuses an archive with no binary for this target, in the verifier, before installing anything', async () => {
    const o = options();
    const e = await refusal(prepareBinary(o, instance(pushed['foreign-only']), () => {}));
    expect(e.code).toBe('PAR_TARGET_NOT_FOUND');
    expect(existsSync(o.binaries.dir) ? readdirSync(o.binaries.dir, { recursive: true }) : []).toEqual([]);
  });

  it('verifies, but does not install, a binary for a target this host only stands in for (ForeignTarget)', async () => {
    const o = options({ target: foreign });
    const e = await refusal(prepareBinary(o, instance(pushed.both, { target: foreign }), () => {}));
    expect(e.reason).toBe('ForeignTarget');
    expect(e.message).toBe(
      `archive verified, but this agent runs on a ${host} host and only advertises ${foreign} for placement; it cannot load ${foreign} binaries`,
    );
    expect(existsSync(o.binaries.dir) ? readdirSync(o.binaries.dir, { recursive: true }) : []).toEqual([]);
  });
});

describe('prepareBinary with sealed copies', () => {
  const sealedOptions = (over: Partial<PipelineOptions> = {}) =>
    options({ sealed: new SealedLibraries(), metrics: new AgentMetrics(), ...over });
  const counted = async (o: PipelineOptions) =>
    Object.fromEntries((await o.metrics!.cacheRequests.get()).values.map((v) => [v.labels.result, v.value]));

  it('seals the verified binary; a second instance of the digest re-checks only its claims, and gets the same library', async () => {
    const o = sealedOptions();
    const steps: string[][] = [[], []];
    const phases: string[] = [];
    const first = await prepareBinary(
      o,
      instance(pushed.echo),
      () => {},
      (s) => steps[0].push(s),
    );
    const second = await prepareBinary(
      o,
      instance(pushed.echo),
      (p) => phases.push(p),
      (s) => steps[1].push(s),
    );
    expect(steps).toEqual([
      ['credentials', 'accessChecked', 'pulledAndVerified'],
      ['credentials', 'accessChecked', 'claimsRecheckedSealed'],
    ]);
    expect(phases).toEqual(['Fetching', 'Verifying']);
    // the signer travels with the library: a trust change judges the running host by it (agent/trust-follow.ts)
    expect(first).toEqual({
      libraryPath: first.libraryPath,
      capid: 'tests:echo',
      sha256: first.sha256,
      sealed: true,
      issuer: A,
    });
    expect(second).toEqual(first);
    const fd = o.sealed!.descriptorFor(first.sha256)!;
    expect(readFileSync(`/proc/self/fd/${fd}`)).toEqual(Buffer.from(binary));
    expect(await counted(o)).toEqual({ hit: 1, miss: 1 });
    const fetches = (await o.metrics!.fetchDuration.get()).values
      .filter((v) => v.metricName?.endsWith('_count') && v.value > 0)
      .map((v) => `${v.labels.source}/${v.labels.result}`);
    expect(fetches.sort()).toEqual(['cache/ok', 'registry/ok']);
  });

  it('the claims-only start needs no metrics, and times itself in seconds no longer than it took', async () => {
    const bare = sealedOptions({ metrics: undefined });
    const first = await prepareBinary(bare, instance(pushed.echo), () => {});
    expect(await prepareBinary(bare, instance(pushed.echo), () => {})).toEqual(first);
    const o = sealedOptions();
    await prepareBinary(o, instance(pushed.echo), () => {});
    const t0 = performance.now();
    await prepareBinary(o, instance(pushed.echo), () => {});
    const took = (performance.now() - t0) / 1000;
    const cached = (await o.metrics!.fetchDuration.get()).values.find(
      (v) => v.metricName?.endsWith('_sum') && v.labels.source === 'cache' && v.labels.result === 'ok',
    );
    expect(cached!.value).toBeGreaterThanOrEqual(0);
    expect(cached!.value).toBeLessThanOrEqual(took);
  });

  it("applies each instance's trust to the remembered claims: narrowed to another issuer, refused before any fetch", async () => {
    const o = sealedOptions();
    await prepareBinary(o, instance(pushed['by-b']), () => {});
    const narrowed = sealedOptions({ sealed: o.sealed });
    expect((await refusal(prepareBinary(narrowed, instance(pushed['by-b'], { issuers: [A] }), () => {}))).code).toBe(
      'PAR_UNTRUSTED_ISSUER',
    );
    const policy = sealedOptions({ sealed: o.sealed, trustedIssuers: [A] });
    expect((await refusal(prepareBinary(policy, instance(pushed['by-b']), () => {}))).code).toBe('PAR_UNTRUSTED_ISSUER');
    // nothing was fetched or read from a cache for either: the claims alone refused it
    expect(await counted(narrowed)).toEqual({ hit: 0, miss: 0 });
    expect(await counted(policy)).toEqual({ hit: 0, miss: 0 });
  });

  it("applies each instance's capability, and this instance's repository access, to a remembered digest", async () => {
    const o = sealedOptions();
    await prepareBinary(o, instance(pushed.echo), () => {});
    const e = await refusal(prepareBinary(o, instance(pushed.echo, { capid: 'tests:other' }), () => {}));
    expect(e.reason).toBe('CapabilityMismatch');
    expect(e.message).toContain('signed capid is tests:echo, but the instance expects tests:other');
    const denied = await refusal(prepareBinary(o, instance({ ref: `${registry.host}/apps/other`, digest: pushed.echo.digest }), () => {}));
    expect(denied.code).toBe('NOT_FOUND');
  });

  it('a cache file changed since it verified sends the next start through the full fetch and verify, which repairs it', async () => {
    const o = sealedOptions();
    const first = await prepareBinary(o, instance(pushed.echo), () => {});
    writeFileSync(first.libraryPath, 'not the library');
    const steps: string[] = [];
    const again = await prepareBinary(
      o,
      instance(pushed.echo),
      () => {},
      (s) => steps.push(s),
    );
    expect(steps).toEqual(['credentials', 'accessChecked', 'cacheReadAndVerified']);
    expect(again).toEqual(first);
    expect(readFileSync(first.libraryPath)).toEqual(Buffer.from(binary));
  });
});
