/**
 * Trust changed at run time, controller side (issue 35): the controller watches the
 * gantry-trust ConfigMap (--trust-configmap) as deploy/base's ServiceAccount on the real API
 * server (RBAC by resourceNames). A narrowed trust refuses new placements of the revision whose
 * issuer left it, naming the issuer; widening places again; a malformed update keeps the last
 * valid policy and says why on the ConfigMap; an update that tries to smuggle an issuer in
 * trusts nothing new; a deleted ConfigMap trusts nothing.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gantryBin } from '../../runtime/paths.js';
import { generateSeed, publicKeyFromSeed } from '../../par/index.js';
import type { RunningController } from '../../controller/index.js';
import { APP, type Cluster, NS, startCluster, startClusterController, waitFor } from './cluster.js';

const CM = 'gantry-trust';
const cmPath = `/api/v1/namespaces/${NS}/configmaps`;
const resolvedOf = async (c: Cluster, name: string) =>
  (await c.provider(name))?.status?.conditions?.find((x: any) => x.type === 'Resolved');

describe('the trust policy watched at run time (controller)', () => {
  let c: Cluster;
  let ctl: RunningController;
  const otherSeed = generateSeed('account');
  const other = publicKeyFromSeed(otherSeed);

  /** The whole ConfigMap replaced, as `kubectl apply` of a new version would. */
  const setTrust = (data: Record<string, string>, binaryData?: Record<string, string>) =>
    c.client.replace(`${cmPath}/${CM}`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CM, namespace: NS }, data, binaryData });
  const policyEvent = (fragment: string) =>
    waitFor(`TrustPolicyInvalid event with ${fragment}`, async () => {
      const l = await c.client.list(`/api/v1/namespaces/${NS}/events`);
      return l.items.find(
        (e: any) => e.involvedObject?.kind === 'ConfigMap' && e.reason === 'TrustPolicyInvalid' && e.message.includes(fragment),
      );
    });
  const untrusted = (name: string, fragment: string) =>
    waitFor(`${name} UntrustedIssuer with ${fragment}`, async () => {
      const r = await resolvedOf(c, name);
      return r?.reason === 'UntrustedIssuer' && r.message.includes(fragment) && r;
    });
  const placed = (name: string, n = 1) =>
    waitFor(`${n} instance(s) of ${name}`, async () => {
      const l = (await c.instances(name)).filter((i) => !i.metadata.deletionTimestamp);
      return l.length === n && l;
    });

  beforeAll(async () => {
    c = await startCluster();
    await c.addNode('n1', 'amd64');
    await c.addNode('n2', 'amd64');
    await c.publish('acme/kv', { revision: 1, targets: ['x86_64-linux'] });
    await c.publish('acme/other', { revision: 1, issuerSeed: otherSeed, targets: ['x86_64-linux'] });
    await c.client.create(cmPath, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CM, namespace: NS },
      data: { 'trusted-issuers': c.issuer },
    });
    // no --trust-issuer: the ConfigMap alone says what is trusted
    ctl = await startClusterController(c, { kubeConfig: c.controllerKc, trustedIssuers: [], trustConfigMap: { namespace: NS, name: CM } });
  }, 60_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  it('the policy is the ConfigMap from the start: its issuer places, another is refused', async () => {
    await c.applyProvider('kv', { archive: { ref: c.ref('acme/kv') }, replicas: 1 });
    await c.applyProvider('other', { archive: { ref: c.ref('acme/other') }, replicas: 1 });
    await placed('kv');
    await untrusted('other', other);
    expect(await c.instances('other')).toHaveLength(0);
  });

  it('narrowed at run time: no new placement of the revision whose issuer left, the reason naming it; the other issuer places', async () => {
    expect(await c.markRunning('kv')).toBe(1);
    await setTrust({ 'trusted-issuers': other });
    const cond = await untrusted('kv', c.issuer);
    expect(cond.status).toBe('False');
    expect(cond.message).toContain(`No new instance of revision 1 is placed: its issuer ${c.issuer} is not trusted now`);
    expect(cond.message).not.toContain('Still serving');
    const events = await c.events('kv');
    expect(events.some((e) => e.type === 'Warning' && e.reason === 'UntrustedIssuer' && e.message.includes(c.issuer))).toBe(true);
    await placed('other');
    // the agent stops the running one (test/agent/trust-runtime.test.ts) and reports it Failed:
    // the controller removes it and, the issuer untrusted, places no replacement
    const [inst] = await c.instances('kv');
    await c.client.mergePatch(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances/${inst.metadata.name}/status`, {
      status: { phase: 'Failed', reason: 'UntrustedIssuer', message: 'stopped by its agent' },
    });
    await waitFor('kv: status says 0 replicas', async () => (await c.provider('kv'))?.status?.replicas === 0);
    await ctl.idle();
    expect(await c.instances('kv')).toHaveLength(0);
  });

  it('widened again: the revision places again and resolves; a Provider still trusted rolls nothing out', async () => {
    expect(await c.markRunning('other')).toBe(1);
    const before = (await c.instances('other')).map((i) => i.metadata.name);
    await setTrust({ 'trusted-issuers': `${other},${c.issuer}` });
    await placed('kv');
    await waitFor('kv Resolved', async () => (await resolvedOf(c, 'kv'))?.status === 'True');
    await ctl.idle();
    // its instances keep the issuers they carry (all still trusted, the signer among them): not a new template
    expect((await c.instances('other')).map((i) => i.metadata.name)).toEqual(before);
  });

  it('a malformed update is refused as a whole with its reason on the ConfigMap, and the last valid policy stays in force', async () => {
    // taken in part, it would drop `other`
    await setTrust({ 'trusted-issuers': `${c.issuer},not-a-key` });
    const e = await policyEvent('trusted-issuers entry 2 "not-a-key" is not an account public key');
    expect(e.type).toBe('Warning');
    expect(e.message).toContain('the last valid trust policy stays in force');
    // and on /metrics, for an alert (runtime/trust-metrics.ts): not valid, the last policy's 2 issuers in force
    const text = await ctl.metrics.registry.metrics();
    expect(
      ['gantry_trust_policy_valid 0', 'gantry_trusted_issuers 2', 'gantry_trust_policy_refusals_total 1'].filter(
        (l) => !text.includes(`${l}\n`),
      ),
    ).toEqual([]);
    // still in force: a new Provider signed by `other` places
    await c.applyProvider('other2', { archive: { ref: c.ref('acme/other') }, replicas: 1 });
    await placed('other2');
    expect((await resolvedOf(c, 'other'))?.status).toBe('True');
  });

  it('attack: an update that smuggles an issuer in (a look-alike key, a bad entry beside it, binaryData) trusts nothing new', async () => {
    await setTrust({ 'trusted-issuers': c.issuer });
    await untrusted('other', other);
    await setTrust({ 'trusted-issuers': c.issuer, 'Trusted-Issuers': other });
    await policyEvent('unknown key "Trusted-Issuers"');
    await setTrust({ 'trusted-issuers': `${c.issuer},${other},x` });
    await policyEvent('trusted-issuers entry 3 "x"');
    // (the real API server refuses a key in both data and binaryData; here it is only in binaryData)
    await setTrust({}, { 'trusted-issuers': Buffer.from(`${c.issuer},${other}`).toString('base64') });
    await policyEvent('binaryData (trusted-issuers) is not read');
    await ctl.idle();
    // a Provider resolved only now, under whatever is in force, is still refused
    await c.applyProvider('other3', { archive: { ref: c.ref('acme/other') }, replicas: 1 });
    await untrusted('other3', other);
    expect(await c.instances('other3')).toHaveLength(0);
    expect((await resolvedOf(c, 'kv'))?.status).toBe('True');
  });

  it('flags: --trust-configmap excludes --trust-issuer and takes NAMESPACE/NAME, for the controller and the agent (exit 2)', async () => {
    const gantry = (...args: string[]) =>
      promisify(execFile)(process.execPath, [gantryBin(), ...args], { timeout: 30_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
    const ctl = ['controller', '--kubeconfig', c.controllerKubeconfigPath];
    const agent = ['agent', '--kubeconfig', c.controllerKubeconfigPath, '--node', 'n1', '--nats', 'nats://127.0.0.1:1'];
    for (const [cmd, base] of [
      ['controller', ctl],
      ['agent', agent],
    ] as const) {
      const both = await gantry(...base, '--trust-configmap', `${NS}/${CM}`, '--trust-issuer', c.issuer);
      expect(both).toEqual({
        code: 2,
        stderr: `gantry: ${cmd}: --trust-configmap and --trust-issuer exclude each other: with the ConfigMap watched, it alone says what is trusted\n`,
      });
      const bad = await gantry(...base, '--trust-configmap', CM);
      expect(bad).toEqual({ code: 2, stderr: `gantry: --trust-configmap "${CM}": expected NAMESPACE/NAME of a ConfigMap\n` });
    }
  });

  it('the ConfigMap deleted: nothing is trusted (fail closed) until it is created again', async () => {
    await c.client.delete(`${cmPath}/${CM}`);
    const cond = await untrusted('kv', 'no trusted issuers');
    expect(cond.message).toContain(`No new instance of revision 1 is placed: its issuer ${c.issuer} is not trusted now`);
    await c.client.create(cmPath, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CM, namespace: NS },
      data: { 'trusted-issuers': c.issuer },
    });
    await waitFor('kv Resolved again', async () => (await resolvedOf(c, 'kv'))?.status === 'True');
  });
});
