/**
 * The built-in kinds the emulator serves, with the per-kind behaviour a real apiserver has:
 * defaulting (Namespace finalizers and phase, pod-template defaults), strategic-merge list
 * keys, extra field selectors and `kubectl get` printers, and the name rule each kind's
 * validation applies (names.ts). Schemas are not enforced for built-ins — the emulator trusts
 * its clients there, as only custom resources need validation.
 */
import { humanAge } from './table.js';
import { controllerRevisionCauses } from './controllerrevisions.js';
import type { KObject, ResourceType, TableColumn } from './types.js';

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function col(name: string, type = 'string', priority = 0, format = ''): TableColumn {
  return { name, type, format, description: name, priority };
}
const NAME = col('Name', 'string', 0, 'name');
const AGE = col('Age');
const age = (o: KObject) => humanAge(o.metadata.creationTimestamp);

/** Strategic-merge keys for lists in the built-in schemas (patchMergeKey). */
const COMMON_MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  // taints and tolerations have no patch strategy upstream: a patch replaces the whole list
  // (so `kubectl taint node n key-` really removes the taint).
  imagePullSecrets: 'name',
  ports: 'containerPort',
  conditions: 'type',
  ownerReferences: 'uid',
  addresses: 'type',
  hostAliases: 'ip',
  volumeDevices: 'devicePath',
  finalizers: '',
};

function podSpecDefaults(spec: KObject['spec']): void {
  if (!spec || typeof spec !== 'object') return;
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    if (!c || typeof c !== 'object') continue;
    c.imagePullPolicy ??=
      typeof c.image === 'string' && (c.image.endsWith(':latest') || !/:[^/]+$/.test(c.image)) ? 'Always' : 'IfNotPresent';
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'FallbackToLogsOnError';
    c.resources ??= {};
    for (const p of c.ports ?? []) if (p && typeof p === 'object') p.protocol ??= 'TCP';
  }
}

/** The scale subresource of the workloads with spec.replicas. */
const REPLICAS_SCALE: ResourceType['scale'] = {
  specReplicasPath: '.spec.replicas',
  statusReplicasPath: '.status.replicas',
  labelSelectorPath: '.status.selector',
};

/** A built-in kind: core group, v1, namespaced, every verb, unless `extra` says otherwise. */
function builtin(kind: string, plural: string, extra: Partial<ResourceType> = {}): ResourceType {
  return {
    group: '',
    versions: ['v1'],
    kind,
    listKind: kind + 'List',
    plural,
    singular: kind.toLowerCase(),
    namespaced: true,
    shortNames: [],
    categories: [],
    verbs: ALL_VERBS,
    status: false,
    generation: false,
    custom: false,
    mergeKeys: COMMON_MERGE_KEYS,
    ...extra,
  };
}

function nodeReady(o: KObject): string {
  const c = (o.status?.conditions ?? []).find((x: { type?: string }) => x?.type === 'Ready');
  let s = c?.status === 'True' ? 'Ready' : c ? 'NotReady' : 'Unknown';
  if (o.spec?.unschedulable) s += ',SchedulingDisabled';
  return s;
}

function nodeRoles(o: KObject): string {
  const roles = Object.keys(o.metadata.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length));
  return roles.length ? roles.join(',') : '<none>';
}

function controllerRevisionRow(o: KObject): unknown[] {
  const owner = (o.metadata.ownerReferences ?? []).find((r) => r.controller);
  // kind.group/name, as the real printer's formatResourceName (a core kind has no group)
  const group = owner?.apiVersion.includes('/') ? `.${owner.apiVersion.split('/')[0]}` : '';
  const controller = owner ? `${owner.kind.toLowerCase()}${group}/${owner.name}` : '<none>';
  return [o.metadata.name, controller, o.revision ?? 0, age(o)];
}

// code-size: data table (the built-in kinds kubectl and the agents use, one entry each)
export function builtinResources(): ResourceType[] {
  return [
    builtin('Namespace', 'namespaces', {
      namespaced: false,
      nameRule: 'label',
      shortNames: ['ns'],
      status: true,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
      defaulter: (o) => {
        o.spec = { finalizers: ['kubernetes'], ...(o.spec ?? {}) };
        o.status = { phase: 'Active', ...(o.status ?? {}) };
        o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name! };
      },
      fieldGetters: { 'status.phase': (o) => o.status?.phase },
      table: { columns: [NAME, col('Status'), AGE], row: (o) => [o.metadata.name, o.status?.phase ?? '', age(o)] },
    }),
    builtin('Node', 'nodes', {
      namespaced: false,
      shortNames: ['no'],
      status: true,
      fieldGetters: { 'spec.unschedulable': (o) => String(!!o.spec?.unschedulable) },
      table: {
        columns: [
          NAME,
          col('Status'),
          col('Roles'),
          AGE,
          col('Version'),
          col('Internal-IP', 'string', 1),
          col('OS-Image', 'string', 1),
          col('Kernel-Version', 'string', 1),
          col('Container-Runtime', 'string', 1),
        ],
        row: (o) => {
          const ip = (o.status?.addresses ?? []).find((a: { type?: string }) => a?.type === 'InternalIP')?.address ?? '<none>';
          const ni = o.status?.nodeInfo ?? {};
          return [
            o.metadata.name,
            nodeReady(o),
            nodeRoles(o),
            age(o),
            ni.kubeletVersion ?? '',
            ip,
            ni.osImage ?? '<unknown>',
            ni.kernelVersion ?? '<unknown>',
            ni.containerRuntimeVersion ?? '<unknown>',
          ];
        },
      },
    }),
    builtin('Event', 'events', {
      // core/v1 Events keep their legacy validation, which checks no name format.
      nameRule: 'path-segment',
      shortNames: ['ev'],
      fieldGetters: {
        'involvedObject.kind': (o) => o.involvedObject?.kind,
        'involvedObject.namespace': (o) => o.involvedObject?.namespace,
        'involvedObject.name': (o) => o.involvedObject?.name,
        'involvedObject.uid': (o) => o.involvedObject?.uid,
        'involvedObject.apiVersion': (o) => o.involvedObject?.apiVersion,
        'involvedObject.resourceVersion': (o) => o.involvedObject?.resourceVersion,
        'involvedObject.fieldPath': (o) => o.involvedObject?.fieldPath,
        reason: (o) => o.reason,
        type: (o) => o.type,
        source: (o) => o.source?.component,
        reportingComponent: (o) => o.reportingComponent,
      },
      defaulter: (o) => {
        o.type ??= 'Normal';
        o.count ??= 1;
      },
      table: {
        columns: [col('Last Seen'), col('Type'), col('Reason'), col('Object'), col('Message')],
        row: (o) => [
          humanAge(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp),
          o.type ?? '',
          o.reason ?? '',
          `${(o.involvedObject?.kind ?? '').toLowerCase()}/${o.involvedObject?.name ?? ''}`,
          o.message ?? '',
        ],
      },
    }),
    builtin('Secret', 'secrets', {
      fieldGetters: { type: (o) => o.type },
      defaulter: (o) => {
        o.type ??= 'Opaque';
        // stringData is write-only: fold it into base64 data like the real server.
        if (o.stringData && typeof o.stringData === 'object') {
          o.data = { ...(o.data ?? {}) };
          for (const [k, v] of Object.entries(o.stringData)) o.data[k] = Buffer.from(String(v)).toString('base64');
          delete o.stringData;
        }
      },
      table: {
        columns: [NAME, col('Type'), col('Data', 'string'), AGE],
        row: (o) => [o.metadata.name, o.type ?? 'Opaque', Object.keys(o.data ?? {}).length, age(o)],
      },
    }),
    builtin('ConfigMap', 'configmaps', {
      shortNames: ['cm'],
      table: {
        columns: [NAME, col('Data', 'integer'), AGE],
        row: (o) => [o.metadata.name, Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length, age(o)],
      },
    }),
    builtin('ServiceAccount', 'serviceaccounts', { shortNames: ['sa'] }),
    builtin('Service', 'services', {
      nameRule: 'dns1035',
      shortNames: ['svc'],
      status: true,
      categories: ['all'],
      mergeKeys: { ...COMMON_MERGE_KEYS, ports: 'port' },
    }),
    builtin('Pod', 'pods', {
      shortNames: ['po'],
      status: true,
      categories: ['all'],
      defaulter: (o) => {
        podSpecDefaults(o.spec);
        o.status ??= { phase: 'Pending' };
      },
      fieldGetters: {
        'spec.nodeName': (o) => o.spec?.nodeName,
        'status.phase': (o) => o.status?.phase,
        'spec.serviceAccountName': (o) => o.spec?.serviceAccountName,
        'spec.schedulerName': (o) => o.spec?.schedulerName,
        'spec.restartPolicy': (o) => o.spec?.restartPolicy,
        'status.podIP': (o) => o.status?.podIP,
      },
      table: {
        columns: [NAME, col('Ready'), col('Status'), col('Restarts', 'string'), AGE, col('IP', 'string', 1), col('Node', 'string', 1)],
        row: (o) => {
          const cs = o.status?.containerStatuses ?? [];
          const ready = cs.filter((c: { ready?: boolean }) => c?.ready).length;
          const restarts = cs.reduce((n: number, c: { restartCount?: number }) => n + (c?.restartCount ?? 0), 0);
          return [
            o.metadata.name,
            `${ready}/${(o.spec?.containers ?? []).length}`,
            o.metadata.deletionTimestamp ? 'Terminating' : (o.status?.phase ?? 'Pending'),
            restarts,
            age(o),
            o.status?.podIP ?? '<none>',
            o.spec?.nodeName ?? '<none>',
          ];
        },
      },
    }),
    builtin('DaemonSet', 'daemonsets', {
      group: 'apps',
      shortNames: ['ds'],
      status: true,
      generation: true,
      categories: ['all'],
      defaulter: (o) => {
        o.spec ??= {};
        o.spec.updateStrategy ??= { type: 'RollingUpdate' };
        if (o.spec.updateStrategy.type === 'RollingUpdate') o.spec.updateStrategy.rollingUpdate ??= { maxUnavailable: 1, maxSurge: 0 };
        o.spec.revisionHistoryLimit ??= 10;
        podSpecDefaults(o.spec.template?.spec);
        o.status ??= { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 };
      },
      table: {
        columns: [
          NAME,
          col('Desired', 'integer'),
          col('Current', 'integer'),
          col('Ready', 'integer'),
          col('Up-to-date', 'integer'),
          col('Available', 'integer'),
          col('Node Selector'),
          AGE,
        ],
        row: (o) => {
          const s = o.status ?? {};
          const sel =
            Object.entries(o.spec?.template?.spec?.nodeSelector ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(',') || '<none>';
          return [
            o.metadata.name,
            s.desiredNumberScheduled ?? 0,
            s.currentNumberScheduled ?? 0,
            s.numberReady ?? 0,
            s.updatedNumberScheduled ?? 0,
            s.numberAvailable ?? 0,
            sel,
            age(o),
          ];
        },
      },
    }),
    builtin('Deployment', 'deployments', {
      group: 'apps',
      shortNames: ['deploy'],
      status: true,
      generation: true,
      categories: ['all'],
      scale: REPLICAS_SCALE,
      defaulter: (o) => {
        o.spec ??= {};
        o.spec.replicas ??= 1;
        o.spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
        o.spec.revisionHistoryLimit ??= 10;
        o.spec.progressDeadlineSeconds ??= 600;
        podSpecDefaults(o.spec.template?.spec);
      },
      table: {
        columns: [NAME, col('Ready'), col('Up-to-date', 'integer'), col('Available', 'integer'), AGE],
        row: (o) => [
          o.metadata.name,
          `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`,
          o.status?.updatedReplicas ?? 0,
          o.status?.availableReplicas ?? 0,
          age(o),
        ],
      },
    }),
    builtin('StatefulSet', 'statefulsets', {
      // A DNS label since v1.27: the name becomes each Pod's hostname.
      group: 'apps',
      nameRule: 'label',
      shortNames: ['sts'],
      status: true,
      generation: true,
      categories: ['all'],
      scale: REPLICAS_SCALE,
      defaulter: (o) => {
        o.spec ??= {};
        o.spec.replicas ??= 1;
        o.spec.podManagementPolicy ??= 'OrderedReady';
        o.spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
        o.spec.revisionHistoryLimit ??= 10;
        podSpecDefaults(o.spec.template?.spec);
      },
      table: {
        columns: [NAME, col('Ready'), AGE],
        row: (o) => [o.metadata.name, `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`, age(o)],
      },
    }),
    builtin('ControllerRevision', 'controllerrevisions', {
      // a workload's history (apps/v1, as DaemonSets and StatefulSets keep it; Providers too)
      group: 'apps',
      validator: controllerRevisionCauses,
      // revision is a plain int64: absent reads back as 0
      defaulter: (o) => {
        o.revision ??= 0;
      },
      table: { columns: [NAME, col('Controller'), col('Revision', 'integer'), AGE], row: controllerRevisionRow },
    }),
    builtin('PodDisruptionBudget', 'poddisruptionbudgets', {
      group: 'policy',
      nameRule: 'path-segment',
      shortNames: ['pdb'],
      status: true,
      generation: true,
    }),
    builtin('Role', 'roles', { group: 'rbac.authorization.k8s.io', nameRule: 'path-segment' }),
    builtin('RoleBinding', 'rolebindings', { group: 'rbac.authorization.k8s.io', nameRule: 'path-segment' }),
    builtin('ClusterRole', 'clusterroles', { group: 'rbac.authorization.k8s.io', nameRule: 'path-segment', namespaced: false }),
    builtin('ClusterRoleBinding', 'clusterrolebindings', {
      group: 'rbac.authorization.k8s.io',
      nameRule: 'path-segment',
      namespaced: false,
    }),
    builtin('Lease', 'leases', {
      group: 'coordination.k8s.io',
      table: { columns: [NAME, col('Holder'), AGE], row: (o) => [o.metadata.name, o.spec?.holderIdentity ?? '', age(o)] },
    }),
    builtin('CustomResourceDefinition', 'customresourcedefinitions', {
      group: 'apiextensions.k8s.io',
      namespaced: false,
      shortNames: ['crd', 'crds'],
      status: true,
      generation: true,
      categories: ['api-extensions'],
      table: { columns: [NAME, col('Created At', 'date')], row: (o) => [o.metadata.name, o.metadata.creationTimestamp] },
    }),
  ];
}
