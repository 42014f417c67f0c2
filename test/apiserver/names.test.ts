/**
 * Object names as kube-apiserver checks them: each kind's rule (DNS-1123 subdomain, DNS-1123
 * label, DNS-1035 label, path segment), generateName as a prefix, the namespace, and names in
 * the request path — refused with the Status a real server sends, valid edge cases accepted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { raw } from './http.js';

const fixtures = join(import.meta.dirname, 'fixtures');
let api: TestApiServer;

beforeAll(async () => {
  api = await startTestApiServer();
  const crd = parse(readFileSync(join(fixtures, 'widget-crd.yaml'), 'utf8'));
  const r = await raw(api, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  expect(r.status, r.text).toBe(201);
});
afterAll(async () => {
  await api?.stop();
});

const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

const CM = '/api/v1/namespaces/default/configmaps';
const W = '/apis/test.gantry.dev/v1/namespaces/default/widgets';
const widget = (metadata: Record<string, unknown>) => ({
  apiVersion: 'test.gantry.dev/v1',
  kind: 'Widget',
  metadata,
  spec: { size: 'small' },
});

describe('object names', () => {
  it('a Namespace name is a DNS-1123 label: Bad.NS, bad.ns and 64 characters are 422 Invalid with the real message', async () => {
    const bad = await raw(api, 'POST', '/api/v1/namespaces', { metadata: { name: 'Bad.NS' } });
    expect(bad.status).toBe(422);
    expect(bad.json).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422 });
    expect(bad.json.message).toBe(`Namespace "Bad.NS" is invalid: metadata.name: Invalid value: "Bad.NS": ${LABEL_MSG}`);
    expect(bad.json.details).toEqual({
      name: 'Bad.NS',
      group: '',
      kind: 'Namespace',
      causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: "Bad.NS": ${LABEL_MSG}`, field: 'metadata.name' }],
    });
    const dots = await raw(api, 'POST', '/api/v1/namespaces', { metadata: { name: 'bad.ns' } });
    expect(dots.status).toBe(422);
    expect(dots.json.message).toBe('Namespace "bad.ns" is invalid: metadata.name: Invalid value: "bad.ns": must not contain dots');
    const long = 'n'.repeat(64);
    const tooLong = await raw(api, 'POST', '/api/v1/namespaces', { metadata: { name: long } });
    expect(tooLong.status).toBe(422);
    expect(tooLong.json.message).toBe(
      `Namespace "${long}" is invalid: metadata.name: Invalid value: "${long}": must be no more than 63 characters`,
    );
    expect((await raw(api, 'GET', '/api/v1/namespaces/Bad.NS')).status).toBe(404); // nothing was stored
    const ok = 'n'.repeat(63);
    expect((await raw(api, 'POST', '/api/v1/namespaces', { metadata: { name: ok } })).status).toBe(201);
    expect((await raw(api, 'POST', '/api/v1/namespaces', { metadata: { name: '0-a' } })).status).toBe(201);
  });

  it('a ConfigMap name is a DNS-1123 subdomain: UPPER, "has space" and 300 characters refused; 253 characters and a.b-c accepted', async () => {
    const upper = await raw(api, 'POST', CM, { metadata: { name: 'UPPER' } });
    expect(upper.status).toBe(422);
    expect(upper.json.message).toBe(`ConfigMap "UPPER" is invalid: metadata.name: Invalid value: "UPPER": ${SUBDOMAIN_MSG}`);
    const space = await raw(api, 'POST', CM, { metadata: { name: 'has space' } });
    expect(space.status).toBe(422);
    expect(space.json.message).toBe(`ConfigMap "has space" is invalid: metadata.name: Invalid value: "has space": ${SUBDOMAIN_MSG}`);
    const n300 = 'a'.repeat(300);
    const long = await raw(api, 'POST', CM, { metadata: { name: n300 } });
    expect(long.status).toBe(422);
    expect(long.json.message).toBe(
      `ConfigMap "${n300}" is invalid: metadata.name: Invalid value: "${n300}": must be no more than 253 characters`,
    );
    // Too long and malformed: both problems, in apimachinery's order, as one aggregate.
    const both = 'A'.repeat(254);
    const two = await raw(api, 'POST', CM, { metadata: { name: both } });
    expect(two.json.message).toBe(
      `ConfigMap "${both}" is invalid: [metadata.name: Invalid value: "${both}": must be no more than 253 characters, metadata.name: Invalid value: "${both}": ${SUBDOMAIN_MSG}]`,
    );
    expect(two.json.details.causes).toHaveLength(2);
    for (const name of ['-lead', 'trail-', 'a..b', 'ünï'])
      expect((await raw(api, 'POST', CM, { metadata: { name } })).status, name).toBe(422);

    const n253 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(n253).toHaveLength(253);
    for (const name of [n253, 'a.b-c', '0', '1.2.3']) {
      const r = await raw(api, 'POST', CM, { metadata: { name } });
      expect(r.status, `${name}: ${r.text}`).toBe(201);
      expect(r.json.metadata.name).toBe(name);
    }
    expect((await raw(api, 'GET', `${CM}/${n253}`)).status).toBe(200);
  });

  it('custom resources use the DNS-1123 subdomain rule, reported before schema errors', async () => {
    const bad = await raw(api, 'POST', W, { ...widget({ name: 'Big_Widget' }), spec: { size: 'huge' } });
    expect(bad.status).toBe(422);
    expect(bad.json.details.causes.map((c: { field: string }) => c.field)).toEqual(['metadata.name', 'spec.size']);
    expect(bad.json.message).toMatch(
      /^Widget\.test\.gantry\.dev "Big_Widget" is invalid: \[metadata\.name: Invalid value: "Big_Widget": a lowercase RFC 1123 subdomain/,
    );
    expect((await raw(api, 'POST', W, widget({ name: 'w.with-dots' }))).status).toBe(201);
    // Server-side apply that creates goes through the same check.
    const applied = await raw(api, 'PATCH', `${W}/Applied?fieldManager=t`, JSON.stringify(widget({ name: 'Applied' })), {
      'Content-Type': 'application/apply-patch+yaml',
    });
    expect(applied.status).toBe(422);
    expect(applied.json.reason).toBe('Invalid');
  });

  it('a CRD name is a DNS-1123 subdomain and must be plural.group; both problems are reported together', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'Gadgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'gadgets', kind: 'Gadget' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }],
      },
    };
    const r = await raw(api, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    expect(r.status).toBe(422);
    expect(r.json.details.causes.map((c: { message: string }) => c.message)).toEqual([
      `Invalid value: "Gadgets.example.com": ${SUBDOMAIN_MSG}`,
      'Invalid value: "Gadgets.example.com": must be spec.names.plural+"."+spec.group',
    ]);
  });

  it('a Service name is a DNS-1035 label (no leading digit, no dots); a StatefulSet name a DNS-1123 label', async () => {
    const svc = '/api/v1/namespaces/default/services';
    const digit = await raw(api, 'POST', svc, { metadata: { name: '1st' }, spec: { ports: [{ port: 80 }] } });
    expect(digit.status).toBe(422);
    expect(digit.json.message).toBe(`Service "1st" is invalid: metadata.name: Invalid value: "1st": ${DNS1035_MSG}`);
    expect((await raw(api, 'POST', svc, { metadata: { name: 'a.b' }, spec: { ports: [{ port: 80 }] } })).status).toBe(422);
    expect((await raw(api, 'POST', svc, { metadata: { name: 'web-1' }, spec: { ports: [{ port: 80 }] } })).status).toBe(201);
    const sts = '/apis/apps/v1/namespaces/default/statefulsets';
    const body = (name: string) => ({
      metadata: { name },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      },
    });
    const dotted = await raw(api, 'POST', sts, body('db.main'));
    expect(dotted.status).toBe(422);
    expect(dotted.json.message).toBe(
      'StatefulSet.apps "db.main" is invalid: metadata.name: Invalid value: "db.main": must not contain dots',
    );
    expect((await raw(api, 'POST', sts, body('db-main'))).status).toBe(201);
  });

  it('RBAC names are path segments (system:… and capitals accepted; %, ".", ".." refused)', async () => {
    const cr = '/apis/rbac.authorization.k8s.io/v1/clusterroles';
    expect((await raw(api, 'POST', cr, { metadata: { name: 'system:Gantry-Reader' }, rules: [] })).status).toBe(201);
    const pct = await raw(api, 'POST', cr, { metadata: { name: 'a%b' }, rules: [] });
    expect(pct.status).toBe(422);
    expect(pct.json.message).toBe(
      'ClusterRole.rbac.authorization.k8s.io "a%b" is invalid: metadata.name: Invalid value: "a%b": may not contain \'%\'',
    );
    const dot = await raw(api, 'POST', cr, { metadata: { name: '..' }, rules: [] });
    expect(dot.json.message).toBe(
      'ClusterRole.rbac.authorization.k8s.io ".." is invalid: metadata.name: Invalid value: "..": may not be \'..\'',
    );
  });

  it('generateName is checked as a prefix, cut to 58 characters, and the generated name is checked too', async () => {
    const bad = await raw(api, 'POST', CM, { metadata: { generateName: 'Bad-' } });
    expect(bad.status).toBe(422);
    const fields = bad.json.details.causes.map((c: { field: string }) => c.field);
    expect(fields).toEqual(['metadata.generateName', 'metadata.name']);
    expect(bad.json.details.causes[0].message).toBe(`Invalid value: "Bad-": ${SUBDOMAIN_MSG}`);
    const long = await raw(api, 'POST', CM, { metadata: { generateName: 'g'.repeat(100) } });
    expect(long.status, long.text).toBe(201);
    expect(long.json.metadata.name).toMatch(/^g{58}[a-z0-9]{5}$/);
    const nsGen = await raw(api, 'POST', '/api/v1/namespaces', { metadata: { generateName: 'team.a-' } });
    expect(nsGen.status).toBe(422);
    expect(nsGen.json.details.causes[0]).toEqual({
      reason: 'FieldValueInvalid',
      message: 'Invalid value: "team.a-": must not contain dots',
      field: 'metadata.generateName',
    });
  });

  it('a namespace in the request path that is no valid name can never exist: creates there are 404, as admission answers first', async () => {
    const create = await raw(api, 'POST', '/api/v1/namespaces/Bad.NS/configmaps', { metadata: { name: 'x' } });
    expect(create.status).toBe(404);
    expect(create.json).toMatchObject({ reason: 'NotFound', message: 'namespaces "Bad.NS" not found' });
    const apply = await raw(
      api,
      'PATCH',
      '/api/v1/namespaces/Bad.NS/configmaps/x?fieldManager=t',
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }),
      { 'Content-Type': 'application/apply-patch+yaml' },
    );
    expect(apply.status).toBe(404);
    const list = await raw(api, 'GET', '/api/v1/namespaces/Bad.NS/configmaps');
    expect(list.status).toBe(200);
    expect(list.json.items).toEqual([]);
    // Applying the Namespace itself creates it, and is refused by the name rule.
    const ns = await raw(
      api,
      'PATCH',
      '/api/v1/namespaces/Bad.NS?fieldManager=t',
      JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Bad.NS' } }),
      { 'Content-Type': 'application/apply-patch+yaml' },
    );
    expect(ns.status).toBe(422);
    expect(ns.json.message).toBe(`Namespace "Bad.NS" is invalid: metadata.name: Invalid value: "Bad.NS": ${LABEL_MSG}`);
  });

  it('a name in the request path that cannot be a path segment is 400 BadRequest', async () => {
    const r = await raw(api, 'GET', `${CM}/a%25b`);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ reason: 'BadRequest', message: 'Name parameter invalid: "a%b": may not contain \'%\'' });
    expect((await raw(api, 'DELETE', `${CM}/a%25b`)).status).toBe(400);
  });

  it('an object stored under a name the rules now refuse (an older state dir) can still be read, updated and deleted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-names-'));
    try {
      const legacy = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'Legacy_Name', namespace: 'default', uid: 'u1', resourceVersion: '7', creationTimestamp: '2026-01-01T00:00:00Z' },
        data: { a: '1' },
      };
      writeFileSync(join(dir, 'store.json'), JSON.stringify({ rv: 7, objects: [{ resource: 'configmaps', object: legacy }] }));
      const old = await startTestApiServer({ stateDir: dir });
      try {
        const got = await raw(old, 'GET', `${CM}/Legacy_Name`);
        expect(got.status).toBe(200);
        const upd = await raw(old, 'PUT', `${CM}/Legacy_Name`, { ...got.json, data: { a: '2' } });
        expect(upd.status, upd.text).toBe(200);
        expect(upd.json.data).toEqual({ a: '2' });
        expect((await raw(old, 'DELETE', `${CM}/Legacy_Name`)).status).toBe(200);
        // …but a new one of that name is refused.
        expect((await raw(old, 'POST', CM, { metadata: { name: 'Legacy_Name' } })).status).toBe(422);
      } finally {
        await old.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
