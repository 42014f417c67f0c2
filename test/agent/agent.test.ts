/**
 * The node agent end to end, with real parts: nats-server, docker-registry, the C example
 * providers built by `make -C providers`, the API emulator with Gantry's CRDs. The test
 * stands in for the controller (it creates ProviderInstances bound to the agent's node) and
 * runs the agent as a user would: `gantry agent …` in its own process, so "agent restart"
 * is a real SIGKILL.
 */
import { fromCurveSeed } from '@nats-io/nkeys';
import { openSealed } from '../../registry/sealed-credential.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callProvider, CallError } from '../../client/call.js';
import { instanceSubject } from '../../client/protocol.js';
import { hostTarget } from '../../agent/target.js';
import { instancePullCredsSecretName } from '../../api/index.js';
import { registryPullTokenMinter } from '../../controller/credentials/pull.js';
import { gantryBin } from '../../runtime/paths.js';
import { generateSeed, publicKeyFromSeed } from '../../par/index.js';
import {
  createInstance,
  createInstanceOnly,
  getInstance,
  instancesPath,
  isPhase,
  writePullCredential,
  NODE,
  NS,
  providerLibrary,
  publish,
  publishTampered,
  startWorld,
  stopAgent,
  subscriptionCount,
  waitForInstance,
  type World,
} from './harness.js';

import { startRegistry, startTokenServer, type RegistryServer, type TokenServer } from '../support/registry.js';

const run = promisify(execFile);
const target = hostTarget();

let w: World;
/** These tests name instances <provider> or <provider>-<n>. */
const providerOf = (instance: string) => instance.replace(/-\d+$/, '');
let nc: NatsConnection;
let cacheDir: string;
let agent: ChildProcess | undefined;
let agentLog = '';
let privateRegistry: RegistryServer;
let tokenRegistry: RegistryServer;
let tokenServer: TokenServer;
const regUser = { username: 'puller', password: 'secret-pw' };
const archives: Record<string, { ref: string; digest: string; bytes: Uint8Array }> = {};

function startAgentProcess(node = NODE, extra: string[] = [], cache = cacheDir): ChildProcess {
  const p = spawn(
    process.execPath,
    [
      gantryBin(),
      'agent',
      '--kubeconfig',
      w.agentFor(node).kubeconfigPath,
      '--node',
      node,
      '--nats',
      w.nats.url,
      '--cache-dir',
      cache,
      '--trust-issuer',
      w.issuer,
      '--plain-http-registry',
      w.registry.host,
      '--plain-http-registry',
      privateRegistry.host,
      '--plain-http-registry',
      tokenRegistry.host,
      '--plain-http-registry',
      tokenServer.host,
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' } },
  );
  p.stderr?.on('data', (d) => (agentLog = (agentLog + d).slice(-20_000)));
  return p;
}

async function gantryCall(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [gantryBin(), 'call', '--nats', w.nats.url, '-n', NS, ...args], { timeout: 20_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** An account no policy trusts: the attacker's own signing key. */
const strangerSeed = generateSeed('account');

const calls = (n: number, f: (i: number) => Promise<unknown>) => Promise.all(Array.from({ length: n }, (_, i) => f(i)));

beforeAll(async () => {
  w = await startWorld();
  nc = await connect({ servers: w.nats.url });
  cacheDir = mkdtempSync(join(tmpdir(), 'gantry-agent-cache-'));
  const publishOne = async (repo: string, lib: string, capid: string, seed = w.issuerSeed, t = target) => {
    archives[repo] = await publish(w, { repo, capid, binaries: { [t]: providerLibrary(lib) }, issuerSeed: seed });
  };
  await publishOne('keyvalue', 'keyvalue', 'wascap:keyvalue');
  await publishOne('echo', 'echo', 'gantry:echo');
  await publishOne('faulty', 'faulty', 'gantry:faulty');
  await publishOne('echo-stranger', 'echo', 'gantry:echo', strangerSeed);
  privateRegistry = await startRegistry({ basicAuth: { user: regUser.username, password: regUser.password } });
  archives['echo-private'] = await publish(w, {
    repo: 'echo-private',
    capid: 'gantry:echo',
    binaries: { [target]: providerLibrary('echo') },
    issuerSeed: w.issuerSeed,
    registryHost: privateRegistry.host,
    credentials: regUser,
  });
  // a registry behind a bearer-token service (distribution's `auth: token`)
  tokenServer = await startTokenServer({ [regUser.username]: regUser.password });
  tokenRegistry = await startRegistry({
    token: {
      realm: tokenServer.realm,
      service: tokenServer.service,
      issuer: tokenServer.issuer,
      rootCertBundle: tokenServer.rootCertBundle,
    },
  });
  archives['echo-token'] = await publish(w, {
    repo: 'echo-token',
    capid: 'gantry:echo',
    binaries: { [target]: providerLibrary('echo') },
    issuerSeed: w.issuerSeed,
    registryHost: tokenRegistry.host,
    credentials: regUser,
    plainHttp: [tokenServer.host],
  });
  await publishOne('echo-foreign', 'echo', 'gantry:echo', w.issuerSeed, target.startsWith('aarch64') ? 'x86_64-linux' : 'aarch64-linux');
  agent = startAgentProcess();
}, 60_000);

afterEach((ctx) => {
  // the agent and its hosts log to the agent's stderr: show it when a test fails
  if (ctx.task.result?.state === 'fail') process.stderr.write(`--- gantry agent stderr (last 20 kB) ---\n${agentLog}\n`);
});

afterAll(async () => {
  await stopAgent(agent, 'SIGTERM');
  await nc?.close();
  await privateRegistry?.stop();
  await tokenRegistry?.stop();
  await tokenServer?.stop();
  await w?.stop();
  if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
});

describe('gantry agent', () => {
  it('publishes its target on its Lease', async () => {
    let lease: any;
    for (let i = 0; i < 100 && !lease; i++) {
      try {
        lease = await w.kube.get(`/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases/gantry-agent-${NODE}`);
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(lease?.spec?.holderIdentity).toBe(NODE);
    expect(lease.metadata.annotations['gantry.dev/target']).toBe(target);
    expect(Date.parse(lease.spec.renewTime)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('serves a one-instance keyvalue: gantry call Set then Get returns the value', async () => {
    const a = archives.keyvalue!;
    await createInstance(w, { name: 'kv-0', provider: 'kv', ref: a.ref, digest: a.digest, target, capid: 'wascap:keyvalue' });
    const inst = await waitForInstance(w, 'kv-0', isPhase('Running'));
    expect(inst.status.conditions.find((c: any) => c.type === 'Ready')?.status).toBe('True');
    const set = await gantryCall(['kv', 'Set', '--data', JSON.stringify({ key: 'greeting', value: 'hello' })]);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    const get = await gantryCall(['kv', 'Get', '--data', JSON.stringify({ key: 'greeting' }), '--json']);
    expect(get.code).toBe(0);
    expect(JSON.parse(get.stdout)).toEqual({ instance: 'kv-0', reply: { value: 'hello' } });
    const missing = await gantryCall(['nope', 'Get', '--timeout', '1000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/NO_RESPONDERS/);
    const badTimeout = await gantryCall(['kv', 'Get', '--timeout', 'soon']);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toMatch(/--timeout must be a positive number/);
    const badFile = await gantryCall(['kv', 'Get', '--data', '@/nonexistent/payload.json']);
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toMatch(/cannot read --data file/);
  });

  it('keeps its cache private: directories 0700, archives and libraries 0600', () => {
    const mode = (p: string) => statSync(p).mode & 0o777;
    for (const d of ['', 'archives', 'archives/sha256', 'binaries', 'hosts']) expect([d, mode(join(cacheDir, d))]).toEqual([d, 0o700]);
    const files = [
      ...readdirSync(join(cacheDir, 'archives', 'sha256')).map((f) => join(cacheDir, 'archives', 'sha256', f)),
      ...readdirSync(join(cacheDir, 'binaries')).map((f) => join(cacheDir, 'binaries', f)),
      join(cacheDir, 'seal.xk'), // the node's seal key: pull credentials are sealed to it
    ];
    expect(files.length).toBeGreaterThanOrEqual(3); // the keyvalue archive, its summary and its library
    for (const f of files) expect([f, mode(f)]).toEqual([f, 0o600]);
  });

  it("pulls with the instance's dockerconfigjson pull secret, and says why it cannot without one", async () => {
    const a = archives['echo-private']!;
    await createInstance(w, { name: 'private-nosecret', provider: 'private-nosecret', ref: a.ref, digest: a.digest, target });
    await createInstance(w, {
      name: 'private-missing',
      provider: 'private-missing',
      ref: a.ref,
      digest: a.digest,
      target,
      pullSecrets: ['no-such-secret'],
    });
    const dockerConfig = {
      auths: { [privateRegistry.host]: { auth: Buffer.from(`${regUser.username}:${regUser.password}`).toString('base64') } },
    };
    await w.kube.create(`/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name: 'regcred', namespace: NS },
      data: { '.dockerconfigjson': Buffer.from(JSON.stringify(dockerConfig)).toString('base64') },
    });
    await createInstance(w, { name: 'private-0', provider: 'private', ref: a.ref, digest: a.digest, target, pullSecrets: ['regcred'] });
    await waitForInstance(w, 'private-0', isPhase('Running'));
    expect((await callProvider(nc, { namespace: NS, provider: 'private', op: 'Echo', data: 'p' })).instance).toBe('private-0');
    // without credentials: still trying, and saying why
    const unauthorized = await waitForInstance(w, 'private-nosecret', (i) => i.status?.reason === 'RegistryUnauthorized');
    expect(unauthorized.status.phase).toBe('Fetching');
    expect(unauthorized.status.message).toMatch(/retrying/);
    const missing = await waitForInstance(w, 'private-missing', (i) => i.status?.reason === 'PullSecretInvalid');
    expect(missing.status.message).toMatch(/no-such-secret/);
    for (const n of ['private-nosecret', 'private-missing', 'private-0']) await w.kube.delete(instancesPath(NS, n));
  });

  it("pulls with the credential the controller wrote into gantry-nodes, reads no Secret in the instance's namespace, and picks up a rotated one on the next pull without a restart", async () => {
    const a = archives['echo-private']!;
    const cfg = (password: string) =>
      Buffer.from(
        JSON.stringify({
          auths: {
            [privateRegistry.host]: { auth: Buffer.from(`${regUser.username}:${password}`).toString('base64') },
            'other-registry.example:5000': { auth: Buffer.from('someone:else').toString('base64') },
          },
        }),
      ).toString('base64');
    await w.kube.create(`/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name: 'rotating', namespace: NS },
      data: { '.dockerconfigjson': cfg('stale-password') },
    });
    const inst = await createInstance(w, {
      name: 'rotated-0',
      provider: 'rotated',
      ref: a.ref,
      digest: a.digest,
      target,
      pullSecrets: ['rotating'],
    });
    // the credential the agent gets is sealed to its node's key, and holds the archive's registry only
    const held = await w.kube.get(`/api/v1/namespaces/gantry-nodes/secrets/${instancePullCredsSecretName(NS, 'rotated-0')}`);
    expect(JSON.stringify(held)).not.toContain(Buffer.from(`${regUser.username}:stale-password`).toString('base64'));
    const nodeKey = fromCurveSeed(new TextEncoder().encode(readFileSync(join(cacheDir, 'seal.xk'), 'utf8').trim()));
    const clear = openSealed(nodeKey, Buffer.from(held.data.sealed, 'base64').toString());
    expect(Object.keys(JSON.parse(clear).auths)).toEqual([privateRegistry.host]);
    expect(held.metadata.labels['gantry.dev/instance-uid']).toBe(inst.metadata.uid);
    // a stale credential: refused by the registry, and the agent keeps trying
    await waitForInstance(w, 'rotated-0', (i) => i.status?.reason === 'RegistryUnauthorized');
    // the Provider's secret is rotated; the controller rewrites the instance's credential
    const cur = await w.kube.get(`/api/v1/namespaces/${NS}/secrets/rotating`);
    await w.kube.replace(`/api/v1/namespaces/${NS}/secrets/rotating`, { ...cur, data: { '.dockerconfigjson': cfg(regUser.password) } });
    await writePullCredential(w, inst);
    // the same instance (same uid, same agent) pulls with it on its next attempt
    const running = await waitForInstance(w, 'rotated-0', isPhase('Running'), 30_000);
    expect(running.metadata.uid).toBe(inst.metadata.uid);
    // deleting the Provider's secret no longer matters to the agent: it never reads it
    await w.kube.delete(`/api/v1/namespaces/${NS}/secrets/rotating`);
    await w.kube.delete(instancesPath(NS, 'rotated-0'));
  });

  it('pulls from a token-auth registry with a repository pull token the controller minted, or the narrowed credential (password, identity token), and not with a wrong one', async () => {
    const a = archives['echo-token']!;
    const entries = {
      password: { auth: Buffer.from(`${regUser.username}:${regUser.password}`).toString('base64') },
      identity: { identitytoken: `refresh-${regUser.username}` }, // the token service's OAuth2 refresh token
      wrong: { auth: Buffer.from(`${regUser.username}:nope`).toString('base64') },
    };
    const before = tokenServer.requests;
    for (const [kind, entry] of Object.entries(entries)) {
      await w.kube.create(`/api/v1/namespaces/${NS}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/dockerconfigjson',
        metadata: { name: `token-${kind}`, namespace: NS },
        data: {
          '.dockerconfigjson': Buffer.from(
            JSON.stringify({ auths: { [tokenRegistry.host]: entry, [privateRegistry.host]: { auth: 'eDp5' } } }),
          ).toString('base64'),
        },
      });
      await createInstance(w, {
        name: `token-${kind}`,
        provider: `token-${kind}`,
        ref: a.ref,
        digest: a.digest,
        target,
        pullSecrets: [`token-${kind}`],
      });
    }
    // as the controller does: a token for this repository only, minted with the credential
    await w.kube.create(`/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name: 'token-minted', namespace: NS },
      data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [tokenRegistry.host]: entries.password } })).toString('base64') },
    });
    const mintedInst = await createInstanceOnly(w, {
      name: 'token-minted',
      provider: 'token-minted',
      ref: a.ref,
      digest: a.digest,
      target,
      pullSecrets: ['token-minted'],
    });
    await writePullCredential(w, mintedInst, registryPullTokenMinter({ plainHttpRegistries: [tokenRegistry.host, tokenServer.host] }));
    const minted = await w.kube.get(`/api/v1/namespaces/gantry-nodes/secrets/${instancePullCredsSecretName(NS, 'token-minted')}`);
    const mintedKey = fromCurveSeed(new TextEncoder().encode(readFileSync(join(cacheDir, 'seal.xk'), 'utf8').trim()));
    const mintedDoc = openSealed(mintedKey, Buffer.from(minted.data.sealed, 'base64').toString());
    expect(Object.keys(JSON.parse(mintedDoc).auths[tokenRegistry.host])).toEqual(['registrytoken']);
    await waitForInstance(w, 'token-minted', isPhase('Running'), 30_000);
    await w.kube.delete(instancesPath(NS, 'token-minted'));
    await w.kube.delete(`/api/v1/namespaces/${NS}/secrets/token-minted`);

    await waitForInstance(w, 'token-password', isPhase('Running'), 30_000);
    await waitForInstance(w, 'token-identity', isPhase('Running'), 30_000);
    const refused = await waitForInstance(w, 'token-wrong', (i) => i.status?.reason === 'RegistryUnauthorized', 30_000);
    expect(refused.status.phase).toBe('Fetching');
    expect(tokenServer.requests).toBeGreaterThan(before); // the credential went through the token service
    const held = await w.kube.get(`/api/v1/namespaces/gantry-nodes/secrets/${instancePullCredsSecretName(NS, 'token-identity')}`);
    expect(JSON.parse(openSealed(mintedKey, Buffer.from(held.data.sealed, 'base64').toString()))).toEqual({
      auths: { [tokenRegistry.host]: { identitytoken: `refresh-${regUser.username}` } },
    });
    for (const kind of Object.keys(entries)) {
      await w.kube.delete(instancesPath(NS, `token-${kind}`));
      await w.kube.delete(`/api/v1/namespaces/${NS}/secrets/token-${kind}`);
    }
  });

  it("an instance naming pull secrets waits for its credential (CredentialsPending), never falls back to the Provider's Secret", async () => {
    const a = archives['echo-private']!;
    await w.kube.create(`/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name: 'unnarrowed', namespace: NS },
      data: {
        '.dockerconfigjson': Buffer.from(
          JSON.stringify({
            auths: { [privateRegistry.host]: { auth: Buffer.from(`${regUser.username}:${regUser.password}`).toString('base64') } },
          }),
        ).toString('base64'),
      },
    });
    const inst = await createInstanceOnly(w, {
      name: 'pending-creds',
      provider: 'pending-creds',
      ref: a.ref,
      digest: a.digest,
      target,
      pullSecrets: ['unnarrowed'],
    });
    const pending = await waitForInstance(w, 'pending-creds', (i) => i.status?.reason === 'CredentialsPending');
    expect(pending.status.phase).toBe('Fetching');
    expect(pending.status.message).toContain(instancePullCredsSecretName(NS, 'pending-creds'));
    // a credential left for an earlier instance of the same name (another uid) is not used either
    await writePullCredential(w, { ...inst, metadata: { ...inst.metadata, uid: 'an-earlier-uid' } });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await getInstance(w, 'pending-creds')).status.reason).toBe('CredentialsPending');
    await writePullCredential(w, inst);
    await waitForInstance(w, 'pending-creds', isPhase('Running'), 30_000);
    await w.kube.delete(instancesPath(NS, 'pending-creds'));
    await w.kube.delete(`/api/v1/namespaces/${NS}/secrets/unnarrowed`);
  });

  it('a private archive cached for one instance never runs for another that cannot read it (4 rounds, each attack fails closed)', async () => {
    const a = archives['echo-private']!;
    const secret = (name: string, password: string) =>
      w.kube.create(`/api/v1/namespaces/${NS}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/dockerconfigjson',
        metadata: { name, namespace: NS },
        data: {
          '.dockerconfigjson': Buffer.from(
            JSON.stringify({
              auths: { [privateRegistry.host]: { auth: Buffer.from(`${regUser.username}:${password}`).toString('base64') } },
            }),
          ).toString('base64'),
        },
      });
    await secret('attack-good', regUser.password);
    await secret('attack-wrong', 'not-the-password');
    for (let round = 0; round < 4; round++) {
      const owner = `cache-owner-${round}`;
      await createInstance(w, { name: owner, provider: owner, ref: a.ref, digest: a.digest, target, pullSecrets: ['attack-good'] });
      await waitForInstance(w, owner, isPhase('Running'));
      // the archive and its library are in the cache now; three instances try to use them
      const thieves: Array<[string, Parameters<typeof createInstance>[1], string]> = [
        [
          `thief-anon-${round}`,
          { name: `thief-anon-${round}`, provider: `thief-anon-${round}`, ref: a.ref, digest: a.digest, target },
          'RegistryUnauthorized',
        ],
        [
          `thief-wrong-${round}`,
          {
            name: `thief-wrong-${round}`,
            provider: `thief-wrong-${round}`,
            ref: a.ref,
            digest: a.digest,
            target,
            pullSecrets: ['attack-wrong'],
          },
          'RegistryUnauthorized',
        ],
        // another repository (public, anonymous) named with the private digest
        [
          `thief-repo-${round}`,
          {
            name: `thief-repo-${round}`,
            provider: `thief-repo-${round}`,
            ref: `${w.registry.host}/echo-private`,
            digest: a.digest,
            target,
          },
          'FetchFailed',
        ],
      ];
      for (const [, spec] of thieves) await createInstance(w, spec);
      for (const [name, , reason] of thieves) {
        const got = await waitForInstance(w, name, (i) => i.status?.reason === reason);
        expect(got.status.phase).toBe('Fetching');
      }
      // through the first retry (2 s) nothing changes: still Fetching, no host serving them
      const until = Date.now() + 2500;
      while (Date.now() < until) {
        for (const [name, , reason] of thieves) {
          const i = await getInstance(w, name);
          expect(i.status.phase).toBe('Fetching'); // never Verifying, Starting or Running
          expect([reason, 'Pulling']).toContain(i.status.reason); // 'Pulling' while a retry asks again
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      for (const [name] of thieves) {
        const err = await callProvider(nc, { namespace: NS, provider: name, instance: name, op: 'Echo', data: 'x', timeoutMs: 1000 }).then(
          () => undefined,
          (e) => e,
        );
        expect(err).toBeInstanceOf(CallError);
        expect(err.code).toBe('NO_RESPONDERS');
      }
      for (const n of [owner, ...thieves.map(([name]) => name)]) await w.kube.delete(instancesPath(NS, n));
    }
  }, 120_000);

  it('shares load over three echo instances through the queue group', async () => {
    const a = archives.echo!;
    for (let i = 0; i < 3; i++) await createInstance(w, { name: `echo-${i}`, provider: 'echo', ref: a.ref, digest: a.digest, target });
    for (let i = 0; i < 3; i++) await waitForInstance(w, `echo-${i}`, isPhase('Running'));
    const served = new Map<string, number>();
    await calls(30, async (i) => {
      const r = await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: `ping ${i}` });
      expect(new TextDecoder().decode(r.reply)).toBe(`ping ${i}`);
      served.set(r.instance, (served.get(r.instance) ?? 0) + 1);
    });
    expect([...served.keys()].sort()).toEqual(['echo-0', 'echo-1', 'echo-2']);
  });

  it('never loads an archive or library altered in its cache: the bytes are fetched again and re-verified', async () => {
    const a = archives.echo!;
    const hex = a.digest.slice('sha256:'.length);
    const cached = join(cacheDir, 'archives', 'sha256', `${hex}.par`);
    const original = readFileSync(cached);
    const altered = Buffer.from(original);
    for (let i = 0; i < 64; i++) altered[Math.floor(altered.length / 2) + i]! ^= 0xff;
    writeFileSync(cached, altered);
    const binDir = join(cacheDir, 'binaries');
    const libs = readdirSync(binDir).filter((f) => f.endsWith('.so'));
    expect(libs.length).toBeGreaterThan(0);
    // replaced (new inode), as an attacker would; writing into the file in place would also
    // corrupt the copies running hosts have mapped, which is a different test
    for (const f of libs) {
      writeFileSync(join(binDir, `${f}.evil`), 'not the library the claims vouch for');
      renameSync(join(binDir, `${f}.evil`), join(binDir, f));
    }

    await createInstance(w, { name: 'echo-recheck', provider: 'echo-recheck', ref: a.ref, digest: a.digest, target });
    await waitForInstance(w, 'echo-recheck', isPhase('Running'));
    expect(
      (await callProvider(nc, { namespace: NS, provider: providerOf('echo-recheck'), instance: 'echo-recheck', op: 'Echo', data: 'ok' }))
        .instance,
    ).toBe('echo-recheck');
    // the cache holds the genuine archive again, and the library on disk hashes to its name
    expect(createHash('sha256').update(readFileSync(cached)).digest('hex')).toBe(createHash('sha256').update(original).digest('hex'));
    const echoLib = join(binDir, `${createHash('sha256').update(providerLibrary('echo')).digest('hex')}.so`);
    expect(createHash('sha256').update(readFileSync(echoLib)).digest()).toEqual(
      createHash('sha256').update(providerLibrary('echo')).digest(),
    );
    await w.kube.delete(instancesPath(NS, 'echo-recheck'));
  });

  it('restarts only the instance whose provider segfaults, counting restarts in status', async () => {
    const a = archives.faulty!;
    for (const n of ['faulty-0', 'faulty-1'])
      await createInstance(w, { name: n, provider: 'faulty', ref: a.ref, digest: a.digest, target });
    await waitForInstance(w, 'faulty-0', isPhase('Running'));
    await waitForInstance(w, 'faulty-1', isPhase('Running'));
    // swap the library on disk first: the restarted host must get a re-verified one, not this
    const faultyLib = join(cacheDir, 'binaries', `${createHash('sha256').update(providerLibrary('faulty')).digest('hex')}.so`);
    writeFileSync(`${faultyLib}.evil`, 'not a shared object');
    renameSync(`${faultyLib}.evil`, faultyLib);
    const crash = await callProvider(nc, {
      namespace: NS,
      provider: providerOf('faulty-0'),
      instance: 'faulty-0',
      op: 'Segfault',
      timeoutMs: 2_000,
    }).catch((e) => e);
    expect(crash).toBeInstanceOf(CallError);
    // the neighbour never stopped serving
    const ok = await callProvider(nc, { namespace: NS, provider: providerOf('faulty-1'), instance: 'faulty-1', op: 'Ok' });
    expect(ok.instance).toBe('faulty-1');
    const restarted = await waitForInstance(w, 'faulty-0', (i) => i.status?.restartCount >= 1 && i.status?.phase === 'Running');
    expect(restarted.status.restartCount).toBe(1);
    expect((await getInstance(w, 'faulty-1')).status.restartCount ?? 0).toBe(0);
    const again = await callProvider(nc, { namespace: NS, provider: providerOf('faulty-0'), instance: 'faulty-0', op: 'Ok' });
    expect(again.instance).toBe('faulty-0');
  });

  describe('refuses what it must not load, each with its own reason', () => {
    async function expectFailed(name: string, reason: string, message: RegExp) {
      const inst = await waitForInstance(w, name, isPhase('Failed'));
      expect(inst.status.reason).toBe(reason);
      expect(inst.status.message).toMatch(message);
      expect(inst.status.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({ status: 'False', reason });
      // nothing loaded: no host subscribed for it
      expect(await subscriptionCount(w, instanceSubject(NS, providerOf(name), name) + '.*.*')).toBe(0);
      const call = await callProvider(nc, {
        namespace: NS,
        provider: providerOf(name),
        instance: name,
        op: 'Echo',
        timeoutMs: 1_000,
      }).catch((e) => e);
      expect((call as CallError).code).toBe('NO_RESPONDERS');
    }

    it('a target binary altered after signing (HashMismatch)', async () => {
      const good = archives.echo!;
      const tampered = Buffer.from(good.bytes);
      // flip bytes well inside the archive, where the stored binary lives
      for (let i = 0; i < 64; i++) tampered[Math.floor(tampered.length / 2) + i]! ^= 0xff;
      const digest = await publishTampered(w, good.ref, good.digest, tampered);
      await createInstance(w, { name: 'echo-tampered', provider: 'echo-tampered', ref: good.ref, digest, target });
      await expectFailed('echo-tampered', 'HashMismatch', /hash|sha/i);
    });

    it('a signature from an untrusted issuer (UntrustedIssuer)', async () => {
      const a = archives['echo-stranger']!;
      await createInstance(w, { name: 'echo-stranger', provider: 'echo-stranger', ref: a.ref, digest: a.digest, target });
      await expectFailed('echo-stranger', 'UntrustedIssuer', /issuer|trust/i);
    });

    it('a hand-made instance that names the attacker key in spec.issuers: an instance only narrows trust (UntrustedIssuer)', async () => {
      const a = archives['echo-stranger']!;
      const attacker = publicKeyFromSeed(strangerSeed);
      await createInstance(w, {
        name: 'echo-self-trusted',
        provider: 'echo-self-trusted',
        ref: a.ref,
        digest: a.digest,
        target,
        issuers: [attacker],
      });
      await expectFailed('echo-self-trusted', 'UntrustedIssuer', new RegExp(`${attacker}.*only narrow`));
    });

    it("a target this node cannot load (TargetNotSupported), and an archive without this node's target (TargetNotInArchive)", async () => {
      const a = archives['echo-foreign']!;
      const foreign = target.startsWith('aarch64') ? 'x86_64-linux' : 'aarch64-linux';
      await createInstance(w, { name: 'echo-foreign', provider: 'echo-foreign', ref: a.ref, digest: a.digest, target: foreign });
      await expectFailed('echo-foreign', 'TargetNotSupported', new RegExp(foreign));
      await createInstance(w, { name: 'echo-missing', provider: 'echo-missing', ref: a.ref, digest: a.digest, target });
      await expectFailed('echo-missing', 'TargetNotInArchive', new RegExp(target));
    });

    it('an agent standing in for a foreign arch (--target) verifies the archive but says plainly it cannot load it (ForeignTarget)', async () => {
      const a = archives['echo-foreign']!;
      const foreign = target.startsWith('aarch64') ? 'x86_64-linux' : 'aarch64-linux';
      const foreignCache = mkdtempSync(join(tmpdir(), 'gantry-agent-foreign-'));
      const stranger = startAgentProcess('foreign-node', ['--target', foreign], foreignCache);
      try {
        await createInstance(w, {
          name: 'echo-foreign-node',
          provider: 'echo-foreign-node',
          node: 'foreign-node',
          ref: a.ref,
          digest: a.digest,
          target: foreign,
        });
        await expectFailed('echo-foreign-node', 'ForeignTarget', new RegExp(`runs on a ${target} host.*cannot load ${foreign}`));
      } finally {
        await stopAgent(stranger, 'SIGTERM');
        rmSync(foreignCache, { recursive: true, force: true });
      }
    });
  });

  it('an agent with --max-archive-bytes below the archive refuses it from the manifest (ArchiveTooLarge), whatever is cached elsewhere', async () => {
    const a = archives.echo!;
    const smallCache = mkdtempSync(join(tmpdir(), 'gantry-agent-small-'));
    const small = startAgentProcess('small-node', ['--max-archive-bytes', '4KiB'], smallCache);
    try {
      await createInstance(w, {
        name: 'echo-small-node',
        provider: 'echo-small-node',
        node: 'small-node',
        ref: a.ref,
        digest: a.digest,
        target,
      });
      const failed = await waitForInstance(w, 'echo-small-node', isPhase('Failed'));
      expect(failed.status.reason).toBe('ArchiveTooLarge');
      expect(failed.status.message).toMatch(/over the 4096-byte limit \(--max-archive-bytes\)/);
      expect(readdirSync(join(smallCache, 'archives', 'sha256'))).toEqual([]);
    } finally {
      await stopAgent(small, 'SIGTERM');
      rmSync(smallCache, { recursive: true, force: true });
      await w.kube.delete(instancesPath(NS, 'echo-small-node')).catch(() => {});
    }
  });

  it('stops the host when its instance is deleted', async () => {
    await w.kube.delete(instancesPath(NS, 'echo-2'));
    const deadline = Date.now() + 15_000;
    while ((await subscriptionCount(w, instanceSubject(NS, providerOf('echo-2'), 'echo-2') + '.*.*')) > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(await subscriptionCount(w, instanceSubject(NS, providerOf('echo-2'), 'echo-2') + '.*.*')).toBe(0);
    const r = await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: 'x' });
    expect(['echo-0', 'echo-1']).toContain(r.instance);
  });

  it('stops the host of an instance held by a finalizer as soon as it is deleting, reporting Terminating', async () => {
    const a = archives.echo!;
    const created = await createInstance(w, { name: 'echo-held', provider: 'echo-held', ref: a.ref, digest: a.digest, target });
    await w.kube.mergePatch(instancesPath(NS, 'echo-held'), { metadata: { finalizers: ['gantry.dev/test-hold'] } });
    await waitForInstance(w, 'echo-held', isPhase('Running'));
    expect(await subscriptionCount(w, instanceSubject(NS, providerOf('echo-held'), 'echo-held') + '.*.*')).toBe(1);
    await w.kube.delete(instancesPath(NS, 'echo-held'));
    const terminating = await waitForInstance(w, 'echo-held', isPhase('Terminating'));
    expect(terminating.metadata.uid).toBe(created.metadata.uid);
    expect(terminating.status.reason).toBe('Deleting');
    const deadline = Date.now() + 15_000;
    while ((await subscriptionCount(w, instanceSubject(NS, providerOf('echo-held'), 'echo-held') + '.*.*')) > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(await subscriptionCount(w, instanceSubject(NS, providerOf('echo-held'), 'echo-held') + '.*.*')).toBe(0);
    await w.kube.mergePatch(instancesPath(NS, 'echo-held'), { metadata: { finalizers: null } });
  });

  it('after a SIGKILL restart, runs every instance again and never two hosts for one', async () => {
    const running = ['kv-0', 'echo-0', 'echo-1', 'faulty-0', 'faulty-1'];
    const before = await Promise.all(running.map((n) => getInstance(w, n)));
    // sample subscriptions all through the restart: at no moment may an instance have two hosts
    let sampling = true;
    let maxSeen = 0;
    const sampler = (async () => {
      while (sampling) {
        for (const n of running) maxSeen = Math.max(maxSeen, await subscriptionCount(w, instanceSubject(NS, providerOf(n), n) + '.*.*'));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await stopAgent(agent, 'SIGKILL');
    agent = startAgentProcess();
    // every instance serves again (polling: the new agent needs a moment to bring them up)
    for (const n of running) {
      const op = n.startsWith('kv') ? 'Keys' : n.startsWith('echo') ? 'Echo' : 'Ok';
      let served: string | undefined;
      for (let i = 0; i < 200 && !served; i++) {
        served = await callProvider(nc, {
          namespace: NS,
          provider: providerOf(n),
          instance: n,
          op,
          data: n.startsWith('kv') ? '{}' : '',
          timeoutMs: 2_000,
        }).then(
          (r) => r.instance,
          () => new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
        );
      }
      expect(served).toBe(n);
      await waitForInstance(w, n, isPhase('Running'));
    }
    sampling = false;
    await sampler;
    expect(maxSeen).toBe(1);
    for (const n of running) expect(await subscriptionCount(w, instanceSubject(NS, providerOf(n), n) + '.*.*')).toBe(1);
    // restart counts are kept, not reset
    for (const [i, n] of running.entries()) {
      expect((await getInstance(w, n)).status.restartCount ?? 0).toBeGreaterThanOrEqual(before[i].status.restartCount ?? 0);
    }
    // failed instances stay failed and unloaded
    expect((await getInstance(w, 'echo-stranger')).status.phase).toBe('Failed');
  }, 60_000);

  it('on SIGTERM stops every host gracefully, says so in status, and exits 0', async () => {
    const p = agent!;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const n of ['kv-0', 'echo-0', 'faulty-1']) {
      expect(await subscriptionCount(w, instanceSubject(NS, providerOf(n), n) + '.*.*')).toBe(0);
      expect((await getInstance(w, n)).status).toMatchObject({ phase: 'Pending', reason: 'AgentStopped' });
    }
  }, 30_000);
});
