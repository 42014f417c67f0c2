/**
 * Moving an install made with `kubectl apply -k deploy/base` to the Helm chart, on a real
 * kube-apiserver + etcd: `helm install` over it is refused, naming an object it would not take
 * over (nothing is changed); once the objects carry Helm's ownership label and annotations
 * (docs/operations.md, "Install with Helm"), `helm install --force-conflicts` adopts every one of
 * them in place —
 * the same uids, so no object (and no pod of a real cluster) is replaced — and owns them from then
 * on: `helm uninstall` removes them.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';
import type { TestApiServer } from '../support/apiserver.js';
import { CHART, helm } from '../support/helm.js';
import { keyOf, render } from './helm-render.js';
import { existing, ground, helmOk, installSkip as skip, leftovers, setUp, type Kubectl } from './helm-release.js';

describe.skipIf(skip)(`from kubectl apply -k deploy/base to helm install (${skip ?? `the ${ground} API server`})`, () => {
  let api: TestApiServer;
  let home = '';
  let kubectl: Kubectl;
  let baseFile = '';
  const uids = new Map<string, string>();
  beforeAll(async () => {
    ({ api, home, kubectl } = await setUp());
    baseFile = join(home, 'base.yaml');
    const built = await kubectl(['kustomize', join(packageRoot(), 'deploy', 'base')]);
    // deploy/base ships no gantry-trust: `gantry install` makes it once (its keys as trust-policy.yaml has them)
    const trust = readFileSync(join(packageRoot(), 'deploy', 'base', 'trust-policy.yaml'), 'utf8');
    writeFileSync(baseFile, `${built}\n---\n${trust}`);
    // as docs/operations.md installs it: client-side apply
    await kubectl(['apply', '-f', baseFile]);
    for (const m of await existing(kubectl, home, await render(home))) uids.set(keyOf(m), m.metadata.uid as string);
  });
  afterAll(async () => {
    await api?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('helm install over it is refused, naming an object Helm does not own, and changes nothing', async () => {
    expect(uids.size).toBe((await render(home)).length);
    const r = await helm(['install', 'gantry', CHART, '--namespace', 'default', '--kubeconfig', api.kubeconfigPath], home);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/exists and cannot be imported into the current release: invalid ownership metadata/);
    const after = await existing(kubectl, home, await render(home));
    expect(after.every((m) => uids.get(keyOf(m)) === m.metadata.uid)).toBe(true);
    expect(after.every((m) => !(m.metadata.labels as Record<string, string> | undefined)?.['helm.sh/chart'])).toBe(true);
  });

  it('labelled and annotated for the release, every object is adopted in place and uninstalled with it', async () => {
    // the commands docs/operations.md gives for the move
    await kubectl(['label', '-f', baseFile, 'app.kubernetes.io/managed-by=Helm', '--overwrite']);
    await kubectl([
      'annotate',
      '-f',
      baseFile,
      'meta.helm.sh/release-name=gantry',
      'meta.helm.sh/release-namespace=default',
      '--overwrite',
    ]);
    // --force-conflicts: the fields kubectl applied (some atomic, and defaulted by the server since)
    // pass to Helm; without it server-side apply refuses them as conflicts with kubectl's
    await helmOk(home, api, ['install', 'gantry', CHART, '--namespace', 'default', '--force-conflicts']);
    const adopted = await existing(kubectl, home, await render(home));
    expect(adopted.map(keyOf).sort()).toEqual([...uids.keys()].sort());
    for (const m of adopted) {
      expect(m.metadata.uid, keyOf(m)).toBe(uids.get(keyOf(m)));
      expect((m.metadata.labels as Record<string, string>)['helm.sh/chart'], keyOf(m)).toBe('gantry-0.2.0');
    }
    await helmOk(home, api, ['uninstall', 'gantry', '--namespace', 'default']);
    expect((await leftovers(kubectl)).namespaced).toEqual([]);
  });
});
