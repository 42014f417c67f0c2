/**
 * The dashboard's snapshot as a pure function of what the watches hold (dashboard/model.ts):
 * no I/O, no clock but `now`, so the same objects give the same bytes and the tests need no
 * cluster. Anything unreadable arrives as `unavailable` and its list as empty.
 */
import {
  type CallFigures,
  type ConditionView,
  DASHBOARD_STATE_VERSION,
  type DashboardPart,
  type DashboardState,
  type GrantView,
  type InstanceView,
  type LogView,
  type NodeView,
  type ProviderView,
} from './model.js';

/** A field of an API object as it came over the wire: read defensively, every value defaulted. */
// biome-ignore lint/suspicious/noExplicitAny: the one untyped alias; objects are checked field by field where read
export type Loose = any;

/** The objects as the API returns them: only the fields read here are typed. */
export type AnyObject = { metadata: { name: string; namespace?: string; [k: string]: Loose }; spec?: Loose; status?: Loose };

export interface StateInput {
  now: Date;
  cluster: DashboardState['cluster'];
  providers: AnyObject[];
  instances: AnyObject[];
  nodes: AnyObject[];
  grants: AnyObject[];
  unavailable: DashboardState['unavailable'];
  /** Call figures by `<namespace>/<provider>` (absent: no metrics read). */
  calls?: Map<string, CallFigures>;
  /** OOM kills this dashboard saw per instance `<namespace>/<name>` while watching (the API keeps only the last termination). */
  oomKills?: Map<string, number>;
}

const byNsName = (a: { namespace?: string; name: string }, b: { namespace?: string; name: string }) =>
  (a.namespace ?? '').localeCompare(b.namespace ?? '') || a.name.localeCompare(b.name);

export function buildState(input: StateInput): DashboardState {
  const providers = input.providers.map((p) => providerView(p, input.calls)).sort(byNsName);
  return {
    version: DASHBOARD_STATE_VERSION,
    at: input.now.toISOString(),
    cluster: input.cluster,
    providers,
    nodes: nodeViews(input.nodes, input.instances, input.oomKills),
    logs: logViews(input.providers),
    grants: input.grants.map((g) => grantView(g, input.now)).sort(byNsName),
    unavailable: [...input.unavailable].sort((a, b) => partOrder(a.part) - partOrder(b.part)),
  };
}

const PARTS: DashboardPart[] = ['providers', 'instances', 'nodes', 'grants', 'metrics'];
const partOrder = (p: DashboardPart) => PARTS.indexOf(p);

function conditions(o: AnyObject): ConditionView[] {
  return ((o.status?.conditions ?? []) as Loose[]).map((c) => ({
    type: String(c.type),
    status: c.status === 'True' || c.status === 'False' ? c.status : 'Unknown',
    ...(c.reason ? { reason: String(c.reason) } : {}),
    ...(c.message ? { message: String(c.message) } : {}),
    ...(c.lastTransitionTime ? { lastTransitionTime: String(c.lastTransitionTime) } : {}),
  }));
}

export function providerView(p: AnyObject, calls?: Map<string, CallFigures>): ProviderView {
  const ns = p.metadata.namespace ?? '';
  const st = p.status ?? {};
  const v: ProviderView = {
    namespace: ns,
    name: p.metadata.name,
    replicas: p.spec?.replicas ?? 1,
    readyReplicas: st.readyReplicas ?? 0,
    updatedReplicas: st.updatedReplicas ?? 0,
    conditions: conditions(p),
  };
  if (st.resolved?.ref) v.archive = { ref: st.resolved.ref, revision: st.resolved.revision, digest: st.resolved.digest };
  else if (p.spec?.archive?.ref) v.archive = { ref: p.spec.archive.ref, revision: p.spec.archive.revision };
  const as = p.spec?.autoscale;
  if (as) {
    const s = st.autoscale ?? {};
    v.autoscale = {
      min: as.minReplicas ?? 1,
      max: as.maxReplicas,
      ...(s.desiredReplicas === undefined ? {} : { desiredReplicas: s.desiredReplicas }),
      ...(s.reason ? { reason: s.reason } : {}),
      ...(s.callsPerSecond ? { callsPerSecond: s.callsPerSecond } : {}),
      ...(s.inFlight ? { inFlight: s.inFlight } : {}),
    };
  }
  const c = calls?.get(`${ns}/${p.metadata.name}`);
  if (c) v.calls = c;
  return v;
}

/** `<arch>-<os>` from the well-known labels, else the kubelet's nodeInfo. */
export function archOs(n: AnyObject): string {
  const labels = n.metadata.labels ?? {};
  const arch = labels['kubernetes.io/arch'] ?? n.status?.nodeInfo?.architecture ?? 'unknown';
  const os = labels['kubernetes.io/os'] ?? n.status?.nodeInfo?.operatingSystem ?? 'unknown';
  return `${arch}-${os}`;
}

export function instanceView(i: AnyObject, oomSeen = 0): InstanceView {
  const st = i.status ?? {};
  const last = st.lastTermination;
  const v: InstanceView = {
    namespace: i.metadata.namespace ?? '',
    name: i.metadata.name,
    provider: i.spec?.provider ?? '',
    phase: st.phase ?? 'Pending',
    restarts: st.restartCount ?? 0,
    oomKills: Math.max(oomSeen, last?.reason === 'OOMKilled' ? 1 : 0),
  };
  if (i.spec?.archive?.revision !== undefined) v.revision = i.spec.archive.revision;
  if (last?.reason) v.lastTermination = { reason: last.reason, at: last.at ?? '', ...(last.message ? { message: last.message } : {}) };
  if (st.reason) v.reason = st.reason;
  return v;
}

/** Nodes with their instances; an instance on a node the user cannot see gets a node of its own, marked unknown. */
function nodeViews(nodes: AnyObject[], instances: AnyObject[], oomKills?: Map<string, number>): NodeView[] {
  const views = new Map<string, NodeView>();
  for (const n of nodes) {
    const ready = ((n.status?.conditions ?? []) as Loose[]).some((c) => c.type === 'Ready' && c.status === 'True');
    views.set(n.metadata.name, { name: n.metadata.name, archOs: archOs(n), ready, unschedulable: !!n.spec?.unschedulable, instances: [] });
  }
  for (const i of instances) {
    const nodeName: string = i.spec?.nodeName ?? '';
    let v = views.get(nodeName);
    if (!v) {
      v = { name: nodeName, archOs: 'unknown', ready: false, unschedulable: false, instances: [] };
      views.set(nodeName, v);
    }
    const key = `${i.metadata.namespace ?? ''}/${i.metadata.name}`;
    v.instances.push(instanceView(i, oomKills?.get(key)));
  }
  const out = [...views.values()].sort((a, b) => a.archOs.localeCompare(b.archOs) || a.name.localeCompare(b.name));
  for (const v of out) v.instances.sort(byNsName);
  return out;
}

/** `host/path` of an archive reference: without its tag or digest. */
export function repositoryOf(ref: string): string {
  const at = ref.indexOf('@');
  const noDigest = at >= 0 ? ref.slice(0, at) : ref;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

function logViews(providers: AnyObject[]): LogView[] {
  const views = new Map<string, LogView>();
  for (const p of [...providers].sort((a, b) => byNsName(a.metadata, b.metadata))) {
    const ref: string | undefined = p.status?.resolved?.ref ?? p.spec?.archive?.ref;
    if (!ref) continue;
    const repository = repositoryOf(ref);
    const who = `${p.metadata.namespace ?? ''}/${p.metadata.name}`;
    let v = views.get(repository);
    if (!v) {
      v = { repository, providers: [] };
      views.set(repository, v);
    }
    v.providers.push(who);
    const log = p.status?.log;
    if (log && (v.size === undefined || log.size > v.size)) {
      v.origin = log.origin;
      v.size = log.size;
      v.rootHash = log.rootHash;
    }
    for (const c of conditions(p)) {
      if (c.reason !== 'LogInconsistent' || c.status === 'True') continue;
      const prev = v.lastInconsistency;
      if (!prev || (c.lastTransitionTime ?? '') > (prev.at ?? '')) {
        v.lastInconsistency = {
          provider: who,
          ...(c.lastTransitionTime ? { at: c.lastTransitionTime } : {}),
          ...(c.message ? { message: c.message } : {}),
        };
      }
    }
  }
  return [...views.values()].sort((a, b) => a.repository.localeCompare(b.repository));
}

export function grantView(g: AnyObject, now: Date): GrantView {
  const spec = g.spec ?? {};
  const ready = ((g.status?.conditions ?? []) as Loose[]).find((c) => c.type === 'Ready');
  const expires: string | undefined = g.status?.expires ?? spec.expires;
  const v: GrantView = {
    namespace: g.metadata.namespace ?? '',
    name: g.metadata.name,
    grantee: spec.grantee?.nkey ?? '',
    target: spec.provider ? `provider ${spec.provider}` : `cap ${spec.capabilityId}/${spec.linkName ?? 'default'}`,
    operations: [...(spec.operations ?? [])],
    ready: ready?.status === 'True',
  };
  if (expires) {
    v.expires = expires;
    const t = Date.parse(expires);
    if (!Number.isNaN(t)) v.expiresInSeconds = Math.floor((t - now.getTime()) / 1000);
  }
  if (ready?.reason) v.reason = ready.reason;
  return v;
}
