/**
 * Decoding of the few protobuf request bodies kubectl ≥1.32 sends for imperative creates of
 * built-ins (`kubectl create namespace|configmap|secret|serviceaccount`). Only these kinds and
 * only the fields those commands set are understood; anything else keeps the 415 a JSON-only
 * server gives. The envelope is `k8s\0` + runtime.Unknown{typeMeta, raw}.
 */
import { errors } from './errors.js';

type Fields = Map<number, (Buffer | bigint)[]>;

function readVarint(b: Buffer, pos: { i: number }): bigint {
  let result = 0n,
    shift = 0n;
  for (let n = 0; n < 10; n++) {
    if (pos.i >= b.length) throw new Error('truncated varint');
    const byte = b[pos.i++];
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return result;
    shift += 7n;
  }
  throw new Error('varint too long');
}

function fields(b: Buffer): Fields {
  const out: Fields = new Map();
  const pos = { i: 0 };
  while (pos.i < b.length) {
    const tag = Number(readVarint(b, pos));
    const field = tag >> 3,
      wire = tag & 7;
    let v: Buffer | bigint;
    if (wire === 0) v = readVarint(b, pos);
    else if (wire === 2) {
      const len = Number(readVarint(b, pos));
      if (pos.i + len > b.length) throw new Error('truncated field');
      v = b.subarray(pos.i, pos.i + len);
      pos.i += len;
    } else if (wire === 1) {
      v = b.subarray(pos.i, pos.i + 8);
      pos.i += 8;
    } else if (wire === 5) {
      v = b.subarray(pos.i, pos.i + 4);
      pos.i += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(v);
    out.set(field, list);
  }
  return out;
}

const str = (f: Fields, n: number): string | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
};
const strs = (f: Fields, n: number): string[] => (f.get(n) ?? []).filter(Buffer.isBuffer).map((v) => v.toString('utf8'));
const msg = (f: Fields, n: number): Fields | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? fields(v) : undefined;
};
const bool = (f: Fields, n: number): boolean | undefined => {
  const v = f.get(n)?.[0];
  return typeof v === 'bigint' ? v !== 0n : undefined;
};

function map(f: Fields, n: number, asBase64 = false): Record<string, string> | undefined {
  const entries = (f.get(n) ?? []).filter(Buffer.isBuffer);
  if (!entries.length) return undefined;
  const out: Record<string, string> = {};
  for (const e of entries) {
    const kv = fields(e);
    const v = kv.get(2)?.[0];
    out[str(kv, 1) ?? ''] = Buffer.isBuffer(v) ? (asBase64 ? v.toString('base64') : v.toString('utf8')) : '';
  }
  return out;
}

function objectMeta(f: Fields | undefined): Record<string, unknown> {
  if (!f) return {};
  const m: Record<string, unknown> = {};
  const set = (k: string, v: unknown) => {
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) m[k] = v;
  };
  set('name', str(f, 1));
  set('generateName', str(f, 2));
  set('namespace', str(f, 3));
  set('labels', map(f, 11));
  set('annotations', map(f, 12));
  set(
    'ownerReferences',
    (f.get(13) ?? []).filter(Buffer.isBuffer).map((b) => {
      const o = fields(b);
      return {
        apiVersion: str(o, 5),
        kind: str(o, 1),
        name: str(o, 3),
        uid: str(o, 4),
        ...(bool(o, 6) !== undefined ? { controller: bool(o, 6) } : {}),
        ...(bool(o, 7) !== undefined ? { blockOwnerDeletion: bool(o, 7) } : {}),
      };
    }),
  );
  set('finalizers', strs(f, 14));
  return m;
}

const decoders: Record<string, (f: Fields) => Record<string, unknown>> = {
  'v1/Namespace': (f) => {
    const spec = msg(f, 2);
    return { metadata: objectMeta(msg(f, 1)), ...(spec && strs(spec, 1).length ? { spec: { finalizers: strs(spec, 1) } } : {}) };
  },
  'v1/ConfigMap': (f) => {
    const o: Record<string, unknown> = { metadata: objectMeta(msg(f, 1)) };
    const data = map(f, 2),
      bin = map(f, 3, true);
    if (data) o.data = data;
    if (bin) o.binaryData = bin;
    if (bool(f, 4) !== undefined) o.immutable = bool(f, 4);
    return o;
  },
  'v1/Secret': (f) => {
    const o: Record<string, unknown> = { metadata: objectMeta(msg(f, 1)) };
    const data = map(f, 2, true),
      sd = map(f, 4);
    if (data) o.data = data;
    if (str(f, 3)) o.type = str(f, 3);
    if (sd) o.stringData = sd;
    if (bool(f, 5) !== undefined) o.immutable = bool(f, 5);
    return o;
  },
  'v1/ServiceAccount': (f) => {
    const o: Record<string, unknown> = { metadata: objectMeta(msg(f, 1)) };
    const pulls = (f.get(3) ?? []).filter(Buffer.isBuffer).map((b) => ({ name: str(fields(b), 1) }));
    if (pulls.length) o.imagePullSecrets = pulls;
    if (bool(f, 4) !== undefined) o.automountServiceAccountToken = bool(f, 4);
    return o;
  },
};

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decode a protobuf-encoded built-in, or throw the 415 a JSON-only server would give. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  const refuse = () =>
    errors.unsupportedMediaType(
      'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml',
    );
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw refuse();
  let envelope: Fields, typeMeta: Fields | undefined;
  try {
    envelope = fields(body.subarray(4));
    typeMeta = msg(envelope, 1);
  } catch {
    throw errors.badRequest('could not decode the protobuf request body');
  }
  const apiVersion = typeMeta ? (str(typeMeta, 1) ?? '') : '';
  const kind = typeMeta ? (str(typeMeta, 2) ?? '') : '';
  const decode = decoders[`${apiVersion}/${kind}`];
  const raw = envelope.get(2)?.[0];
  if (!decode || !Buffer.isBuffer(raw)) throw refuse();
  try {
    return { apiVersion, kind, ...decode(fields(raw)) };
  } catch {
    throw errors.badRequest(`could not decode the protobuf ${kind} in the request body`);
  }
}
