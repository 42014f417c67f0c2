/** The dashboard's state as a pure function of the watched objects (dashboard/state.ts). */
import { describe, expect, it } from 'vitest';
import { archOs, buildState, grantView, instanceView, repositoryOf, type StateInput } from '../../dashboard/state.js';

const now = new Date('2026-06-01T12:00:00Z');
const input = (over: Partial<StateInput> = {}): StateInput => ({
  now,
  cluster: { context: 'ctx', server: 'https://api:6443', user: 'alice' },
  providers: [],
  instances: [],
  nodes: [],
  grants: [],
  unavailable: [],
  ...over,
});
const node = (name: string, arch: string, ready = true, extra: any = {}) => ({
  metadata: { name, labels: { 'kubernetes.io/arch': arch, 'kubernetes.io/os': 'linux' } },
  spec: extra.spec ?? {},
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const inst = (ns: string, name: string, nodeName: string, status: any = {}) => ({
  metadata: { name, namespace: ns },
  spec: { provider: name.split('-')[0], nodeName, archive: { ref: 'r/x', digest: 'sha256:x', revision: 4 } },
  status,
});

describe('dashboard state', () => {
  it('sorts every list (namespace, then name) so the same cluster gives the same bytes', () => {
    const p = (ns: string, name: string) => ({ metadata: { name, namespace: ns }, spec: { archive: { ref: `reg/${name}:1` } } });
    const a = buildState(input({ providers: [p('b', 'x'), p('a', 'z'), p('a', 'y')] }));
    const b = buildState(input({ providers: [p('a', 'y'), p('b', 'x'), p('a', 'z')] }));
    expect(a.providers.map((v) => `${v.namespace}/${v.name}`)).toEqual(['a/y', 'a/z', 'b/x']);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(a.at).toBe('2026-06-01T12:00:00.000Z');
    expect(a.version).toBe(1);
  });

  it('a Provider: replicas (default 1), ready and updated counts, archive, conditions, autoscale and its calls', () => {
    const s = buildState(
      input({
        providers: [
          {
            metadata: { name: 'echo', namespace: 'apps' },
            spec: { archive: { ref: 'reg/acme/echo' }, autoscale: { maxReplicas: 5 } },
            status: {
              readyReplicas: 2,
              updatedReplicas: 1,
              resolved: { ref: 'reg/acme/echo', revision: 3, digest: 'sha256:d' },
              autoscale: { desiredReplicas: 3, reason: 'ScaledUp', callsPerSecond: '12.5' },
              conditions: [
                { type: 'Ready', status: 'False', reason: 'Progressing', message: '2/3', lastTransitionTime: 't' },
                { type: 'Odd', status: 'maybe' },
              ],
            },
          },
        ],
        calls: new Map([['apps/echo', { rate: 1, errorRate: 0, totals: { OK: 3 }, inFlight: 0 }]]),
      }),
    );
    expect(s.providers[0]).toEqual({
      namespace: 'apps',
      name: 'echo',
      replicas: 1,
      readyReplicas: 2,
      updatedReplicas: 1,
      archive: { ref: 'reg/acme/echo', revision: 3, digest: 'sha256:d' },
      conditions: [
        { type: 'Ready', status: 'False', reason: 'Progressing', message: '2/3', lastTransitionTime: 't' },
        { type: 'Odd', status: 'Unknown' },
      ],
      autoscale: { min: 1, max: 5, desiredReplicas: 3, reason: 'ScaledUp', callsPerSecond: '12.5' },
      calls: { rate: 1, errorRate: 0, totals: { OK: 3 }, inFlight: 0 },
    });
  });

  it('the placement map: nodes by arch-os then name, their instances, and instances on nodes the user cannot see', () => {
    const s = buildState(
      input({
        nodes: [node('z1', 'arm64'), node('b1', 'amd64', false, { spec: { unschedulable: true } }), node('a1', 'amd64')],
        instances: [inst('apps', 'echo-2', 'a1', { phase: 'Running' }), inst('apps', 'echo-1', 'a1'), inst('apps', 'kv-1', 'gone')],
      }),
    );
    expect(s.nodes.map((n) => [n.name, n.archOs, n.ready, n.unschedulable])).toEqual([
      ['a1', 'amd64-linux', true, false],
      ['b1', 'amd64-linux', false, true],
      ['z1', 'arm64-linux', true, false],
      ['gone', 'unknown', false, false],
    ]);
    expect(s.nodes[0]!.instances.map((i) => [i.name, i.phase])).toEqual([
      ['echo-1', 'Pending'],
      ['echo-2', 'Running'],
    ]);
  });

  it('arch-os from the well-known labels, else the kubelet nodeInfo', () => {
    expect(archOs({ metadata: { name: 'n' }, status: { nodeInfo: { architecture: 'riscv64', operatingSystem: 'linux' } } })).toBe(
      'riscv64-linux',
    );
    expect(archOs({ metadata: { name: 'n' } })).toBe('unknown-unknown');
  });

  it('an instance: restarts, the last termination, and OOM kills (at least the last one; more when the dashboard saw them)', () => {
    const oom = inst('apps', 'echo-1', 'a', {
      phase: 'Failed',
      restartCount: 4,
      reason: 'CrashLoopBackOff',
      lastTermination: { reason: 'OOMKilled', at: 't1', message: 'over 64Mi' },
    });
    expect(instanceView(oom)).toEqual({
      namespace: 'apps',
      name: 'echo-1',
      provider: 'echo',
      phase: 'Failed',
      revision: 4,
      restarts: 4,
      oomKills: 1,
      lastTermination: { reason: 'OOMKilled', at: 't1', message: 'over 64Mi' },
      reason: 'CrashLoopBackOff',
    });
    expect(instanceView(oom, 3).oomKills).toBe(3);
    expect(instanceView(inst('apps', 'x-1', 'a', { lastTermination: { reason: 'CrashLoopBackOff', at: 't' } })).oomKills).toBe(0);
    const s = buildState(input({ instances: [oom], oomKills: new Map([['apps/echo-1', 2]]) }));
    expect(s.nodes[0]!.instances[0]!.oomKills).toBe(2);
  });

  it('transparency logs: one row per repository, the largest accepted checkpoint, the latest inconsistency', () => {
    const p = (name: string, ref: string, status: any) => ({ metadata: { name, namespace: 'apps' }, spec: { archive: { ref } }, status });
    const s = buildState(
      input({
        providers: [
          p('a', 'reg:5000/acme/echo:2', { log: { origin: 'log.acme/echo', size: 10, rootHash: 'r10' } }),
          p('b', 'reg:5000/acme/echo@sha256:abc', {
            log: { origin: 'log.acme/echo', size: 12, rootHash: 'r12' },
            conditions: [
              {
                type: 'Resolved',
                status: 'False',
                reason: 'LogInconsistent',
                message: 'fork at 11',
                lastTransitionTime: '2026-05-01T00:00:00Z',
              },
            ],
          }),
          p('c', 'reg:5000/acme/kv', {}),
        ],
      }),
    );
    expect(s.logs).toEqual([
      {
        repository: 'reg:5000/acme/echo',
        origin: 'log.acme/echo',
        size: 12,
        rootHash: 'r12',
        providers: ['apps/a', 'apps/b'],
        lastInconsistency: { provider: 'apps/b', at: '2026-05-01T00:00:00Z', message: 'fork at 11' },
      },
      { repository: 'reg:5000/acme/kv', providers: ['apps/c'] },
    ]);
  });

  it('repository of a reference: without tag or digest, a registry port kept', () => {
    expect(repositoryOf('reg:5000/acme/echo:1.2')).toBe('reg:5000/acme/echo');
    expect(repositoryOf('reg:5000/acme/echo@sha256:ab')).toBe('reg:5000/acme/echo');
    expect(repositoryOf('reg:5000/acme/echo')).toBe('reg:5000/acme/echo');
    expect(repositoryOf('acme/kv')).toBe('acme/kv');
  });

  it('grants: target, operations, expiry in seconds from now (negative: expired), readiness', () => {
    const g = (name: string, spec: any, status: any = {}) => ({
      metadata: { name, namespace: 'apps' },
      spec: { grantee: { nkey: 'UKEY' }, operations: ['get'], ...spec },
      status,
    });
    expect(
      grantView(
        g(
          'p',
          { provider: 'echo', expires: '2026-06-01T12:01:30Z' },
          { conditions: [{ type: 'Ready', status: 'True', reason: 'Issued' }] },
        ),
        now,
      ),
    ).toEqual({
      namespace: 'apps',
      name: 'p',
      grantee: 'UKEY',
      target: 'provider echo',
      operations: ['get'],
      expires: '2026-06-01T12:01:30Z',
      expiresInSeconds: 90,
      ready: true,
      reason: 'Issued',
    });
    const old = grantView(
      g(
        'c',
        { capabilityId: 'wasmcloud:kv' },
        { expires: '2026-06-01T11:59:00Z', conditions: [{ type: 'Ready', status: 'False', reason: 'Expired' }] },
      ),
      now,
    );
    expect(old).toMatchObject({ target: 'cap wasmcloud:kv/default', expiresInSeconds: -60, ready: false, reason: 'Expired' });
    expect(grantView(g('n', { provider: 'x' }), now).expiresInSeconds).toBeUndefined();
  });

  it('unavailable parts are kept, in a fixed order, and their lists stay empty', () => {
    const s = buildState(
      input({
        unavailable: [
          { part: 'metrics', reason: 'Forbidden', message: 'm' },
          { part: 'grants', reason: 'Forbidden', message: 'cannot list capabilitygrants' },
        ],
      }),
    );
    expect(s.unavailable.map((u) => u.part)).toEqual(['grants', 'metrics']);
    expect(s.grants).toEqual([]);
  });
});
