/**
 * deploy/helm/gantry installed with Helm v4.3.2 (scripts/helm.sh) on a real kube-apiserver + etcd:
 * `helm install` (no --wait: this ground has no kubelets, so no pod ever runs) creates every object
 * the chart renders, `helm upgrade` with changed values changes them, and `helm uninstall` leaves
 * nothing in Gantry's namespaces and no cluster-wide object: with crds.keep (the default) only
 * the three CRDs, without it not even those. Each case on its own API server: the namespaces
 * helm deletes stay Terminating here (their finalizer is the namespace controller's, in
 * kube-controller-manager, which this ground does not run), so a second install cannot reuse them.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';
import type { TestApiServer } from '../support/apiserver.js';
import { CHART, helm } from '../support/helm.js';
import { HELM_ANNOTATIONS, keyOf, render, setArgs } from './helm-render.js';
import { CRDS, existing, ground, helmOk, installSkip as skip, leftovers, NAMESPACES, setUp } from './helm-release.js';

describe.skipIf(skip)(`helm install, upgrade, uninstall (${skip ?? `the ${ground} API server`})`, () => {
  let api: TestApiServer;
  let home = '';
  let kubectl: (args: string[]) => Promise<string>;
  beforeAll(async () => {
    ({ api, home, kubectl } = await setUp());
  });
  afterAll(async () => {
    await api?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('helm install creates every object the chart renders', async () => {
    const notes = await helmOk(home, api, ['install', 'gantry', CHART, '--namespace', 'default']);
    // the notes say what is left to do: the membrane, and that nothing is trusted yet
    expect(notes).toMatch(/NATS and the controller start once the membrane exists/);
    expect(notes).toMatch(/No issuer is trusted yet \(trust\.trustedIssuers is empty\)/);
    const rendered = await render(home);
    const got = await existing(kubectl, home, rendered);
    expect(got.map(keyOf).sort()).toEqual(rendered.map(keyOf).sort());
    expect(rendered.find((m) => m.kind === 'DaemonSet' && m.metadata.name === 'gantry-host-keeper')).toBeDefined();
    const status = JSON.parse(await helmOk(home, api, ['status', 'gantry', '--namespace', 'default', '-o', 'json']));
    expect(status.info.status).toBe('deployed');
  });

  it('helm upgrade with changed values changes them: NATS 5 servers and their URLs, 3 controllers, trust, the dashboard on', async () => {
    const issuer = `A${'Q'.repeat(55)}`;
    const values = { 'nats.replicas': 5, 'controller.replicas': 3, 'trust.trustedIssuers': [issuer], 'dashboard.enabled': true };
    const notes = await helmOk(home, api, ['upgrade', 'gantry', CHART, '--namespace', 'default', ...setArgs(values)]);
    expect(notes).not.toMatch(/No issuer is trusted yet/);
    const get = async (kind: string, name: string) => JSON.parse(await kubectl(['get', kind, name, '-n', 'gantry-system', '-o', 'json']));
    expect((await get('statefulset', 'gantry-nats')).spec.replicas).toBe(5);
    expect((await get('configmap', 'gantry-nats')).data['nats.conf'].match(/nats-route:\/\/\S+/g)).toHaveLength(5);
    const controller = await get('deployment', 'gantry-controller');
    expect(controller.spec.replicas).toBe(3);
    expect(controller.spec.template.spec.containers[0].args[0]).toContain('gantry-nats-4.gantry-nats-headless');
    expect((await get('configmap', 'gantry-trust')).data['trusted-issuers']).toBe(issuer);
    expect((await get('deployment', 'gantry-dashboard')).spec.template.spec.serviceAccountName).toBe('gantry-dashboard');
    const history = JSON.parse(await helmOk(home, api, ['history', 'gantry', '--namespace', 'default', '-o', 'json']));
    expect(history.map((h: { revision: number; status: string }) => `${h.revision} ${h.status}`)).toEqual(['1 superseded', '2 deployed']);
  });

  it('helm uninstall leaves nothing in the namespaces and, CRDs kept (the default), only the CRDs and their objects', async () => {
    // a user's Provider, in a namespace of its own: what keeping the CRDs keeps
    await kubectl(['wait', '--for=condition=Established', `crd/${CRDS[2]}`, '--timeout=60s']);
    await kubectl(['apply', '-f', join(packageRoot(), 'examples', 'provider-keyvalue.yaml')]);
    await helmOk(home, api, ['uninstall', 'gantry', '--namespace', 'default']);
    const left = await leftovers(kubectl);
    expect(left.namespaced).toEqual([]);
    expect(left.cluster.sort()).toEqual(CRDS.map((c) => `customresourcedefinition.apiextensions.k8s.io/${c}`));
    for (const crd of CRDS) {
      const m = JSON.parse(await kubectl(['get', 'crd', crd, '-o', 'json']));
      expect(m.metadata.annotations[HELM_ANNOTATIONS[0]]).toBe('keep');
      expect(m.metadata.deletionTimestamp).toBeUndefined();
    }
    const kept = JSON.parse(await kubectl(['get', 'provider', 'keyvalue', '-n', 'default', '-o', 'json']));
    expect(kept.spec.archive).toEqual({ ref: '127.0.0.1:5000/acme/keyvalue', revision: 2 });
    // the namespaces are deleted (Terminating until a namespace controller finalizes them)
    for (const ns of NAMESPACES) {
      const out = await kubectl(['get', 'namespace', ns, '-o', 'json', '--ignore-not-found']);
      if (out.trim()) expect(JSON.parse(out).metadata.deletionTimestamp, ns).toBeDefined();
    }
    expect(await helm(['status', 'gantry', '--namespace', 'default', '--kubeconfig', api.kubeconfigPath], home)).toMatchObject({
      code: 1,
    });
  });
});

describe.skipIf(skip)(`helm uninstall with crds.keep=false (${skip ?? `the ${ground} API server`})`, () => {
  let api: TestApiServer;
  let home = '';
  let kubectl: (args: string[]) => Promise<string>;
  beforeAll(async () => {
    ({ api, home, kubectl } = await setUp());
  });
  afterAll(async () => {
    await api?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('leaves nothing at all: the CRDs go too (and with them every Provider, the trade-off values.yaml names)', async () => {
    await helmOk(home, api, ['install', 'gantry', CHART, '--namespace', 'default', ...setArgs({ 'crds.keep': false })]);
    // a CRD serves its kind only once Established (helm install without --wait does not wait for it)
    await kubectl(['wait', '--for=condition=Established', `crd/${CRDS[2]}`, '--timeout=60s']);
    await kubectl(['apply', '-f', join(packageRoot(), 'examples', 'provider-keyvalue.yaml')]);
    // no --wait: it would wait for the namespaces, which stay Terminating on this ground
    await helmOk(home, api, ['uninstall', 'gantry', '--namespace', 'default']);
    const left = await leftovers(kubectl);
    expect(left.namespaced).toEqual([]);
    // a deleted CRD is gone once the API server's own finalizer has removed its objects: bounded poll
    const crdsLeft = async () => (await kubectl(['get', 'crd', '-o', 'name'])).split('\n').filter((o) => o.endsWith('.gantry.dev'));
    for (let i = 0; i < 300 && (await crdsLeft()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await crdsLeft()).toEqual([]);
    expect((await leftovers(kubectl)).cluster).toEqual([]);
  });
});
