/**
 * The sequencer's own checks, each alone and without a registry (the mutation run uses this
 * file): what a request may say (route, method, size, JSON, each field), the status and code
 * each refusal gets, and the lease — parsed strictly (anything else under tlog.sequencer stops
 * appends), taken only when free (or taken over), checked before each append, released only by
 * its holder — on an OCI image-layout directory, the same ContentBackend a registry is.
 * sequencer.test.ts proves the whole against a real registry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageLayoutBackend, OCI_MANIFEST, RegistryError } from '../../registry/index.js';
import { checkLease, heldLease, readLease, refuseIfSequenced, releaseLease, takeLease, TlogError } from '../../tlog/index.js';
import { leaseManifest, parseLease, SEQUENCER_ARTIFACT_TYPE } from '../../tlog/sequencer/lease.js';
import {
  MAX_REQUEST_BYTES,
  parseAppendRequest,
  parseBody,
  parseConsistentRequest,
  replyOf,
  routeOf,
  SequencerRequestError,
} from '../../tlog/sequencer/requests.js';
import { ParError } from '../../par/index.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-seq-checks-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const layout = () => new ImageLayoutBackend(join(root, `repo-${n++}`));

/** The status, code and message a request check refuses with (or 'ok'). */
function refusal(fn: () => unknown): { status: number; code: string; message: string } | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof SequencerRequestError) return { status: e.status, code: e.code, message: e.message };
    throw e;
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof TlogError) return e.code;
    throw e;
  }
}

const json = (v: unknown) => new Uint8Array(Buffer.from(JSON.stringify(v)));
const digest = `sha256:${'a'.repeat(64)}`;

describe('sequencer requests', () => {
  it('routes only POST /v1/append and /v1/consistent', () => {
    expect(routeOf('POST', '/v1/append')).toBe('append');
    expect(routeOf('POST', '/v1/consistent?x=1')).toBe('consistent');
    expect(refusal(() => routeOf('POST', '/v1/other'))).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      message: expect.stringContaining('"/v1/other"'),
    });
    expect(refusal(() => routeOf('POST', undefined))).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      message: expect.stringContaining('endpoint ""'),
    });
    expect(new SequencerRequestError(400, 'X', 'm').name).toBe('SequencerRequestError');
    expect(refusal(() => routeOf('GET', '/v1/append'))).toMatchObject({
      status: 405,
      code: 'METHOD_NOT_ALLOWED',
      message: '/v1/append takes POST, not GET',
    });
  });

  it('reads a JSON object body of at most MAX_REQUEST_BYTES, declared as JSON', () => {
    expect(parseBody(json({ a: 1 }), 'application/json')).toEqual({ a: 1 });
    expect(parseBody(json({ a: 1 }), 'application/json; charset=utf-8')).toEqual({ a: 1 });
    expect(parseBody(new Uint8Array(Buffer.from(`{"a":"${'x'.repeat(MAX_REQUEST_BYTES - 8)}"}`)), 'application/json')).toHaveProperty('a');
    expect(refusal(() => parseBody(new Uint8Array(MAX_REQUEST_BYTES + 1), 'application/json'))).toMatchObject({
      status: 413,
      code: 'TOO_LARGE',
    });
    expect(refusal(() => parseBody(json({}), 'text/plain'))).toMatchObject({
      status: 400,
      code: 'BAD_REQUEST',
      message: expect.stringContaining('"text/plain"'),
    });
    expect(refusal(() => parseBody(json({}), 'application/jsonx'))).toMatchObject({ status: 400 });
    expect(refusal(() => parseBody(json({}), 'text/application/json'))).toMatchObject({ status: 400 });
    expect(refusal(() => parseBody(new Uint8Array(MAX_REQUEST_BYTES + 1), 'application/json'))).toMatchObject({
      message: `the request body is over ${MAX_REQUEST_BYTES} bytes`,
    });
    expect(refusal(() => parseBody(json({}), undefined))).toMatchObject({ status: 400, message: expect.stringContaining('""') });
    expect(refusal(() => parseBody(new Uint8Array(Buffer.from('{nope')), 'application/json'))).toMatchObject({
      status: 400,
      message: expect.stringContaining('not JSON'),
    });
    for (const v of [[1], null, 'x', 3])
      expect(refusal(() => parseBody(json(v), 'application/json'))).toMatchObject({
        status: 400,
        message: 'the body must be a JSON object',
      });
  });

  it('an append names a served repository, a revision and optionally the pushed digest, nothing else', () => {
    const ok = { repository: '127.0.0.1:5000/tlog/a', revision: 3 };
    expect(parseAppendRequest(ok)).toStrictEqual(ok);
    expect(parseAppendRequest({ ...ok, repository: `h/${'a'.repeat(510)}` }).repository).toHaveLength(512);
    expect(parseAppendRequest({ ...ok, revision: 0, digest })).toStrictEqual({ ...ok, revision: 0, digest });
    expect(parseAppendRequest({ repository: 'registry.example/a/b-c_d.e', revision: 1 })).toEqual({
      repository: 'registry.example/a/b-c_d.e',
      revision: 1,
    });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...ok, extra: 1 }, 'unknown field "extra"'],
      [{ revision: 3 }, '"repository"'],
      [{ ...ok, repository: 'no-slash' }, '"repository"'],
      [{ ...ok, repository: 'Host/UPPER' }, '"repository"'],
      [{ ...ok, repository: 'oci-layout:/tmp/x' }, '"repository"'],
      [{ ...ok, repository: `h/${'a'.repeat(511)}` }, '"repository"'],
      [{ ...ok, repository: 'h/r x' }, '"repository"'],
      [{ ...ok, repository: ['h/r'] }, '"repository"'],
      [{ ...ok, revision: [3] }, '"revision"'],
      [{ ...ok, digest: [digest] }, '"digest"'],
      [{ ...ok, digest: `x${digest}` }, '"digest"'],
      [{ ...ok, repository: 7 }, '"repository"'],
      [{ ...ok, revision: -1 }, '"revision" must be a non-negative integer, got -1'],
      [{ ...ok, revision: 1.5 }, '"revision"'],
      [{ ...ok, revision: '3' }, '"revision"'],
      [{ ...ok, revision: 2 ** 53 }, '"revision"'],
      [{ repository: ok.repository }, '"revision"'],
      [{ ...ok, digest: 'sha256:abc' }, '"digest"'],
      [{ ...ok, digest: `sha512:${'a'.repeat(64)}` }, '"digest"'],
      [{ ...ok, digest: `${digest}x` }, '"digest"'],
      [{ ...ok, digest: 5 }, '"digest"'],
    ];
    for (const [body, says] of cases)
      expect(
        refusal(() => parseAppendRequest(body)),
        JSON.stringify(body),
      ).toMatchObject({ status: 400, code: 'BAD_REQUEST', message: expect.stringContaining(says) });
  });

  it('a consistency question carries a checkpoint note and optionally the repository', () => {
    expect(parseConsistentRequest({ checkpoint: 'x\n' })).toStrictEqual({ checkpoint: 'x\n' });
    expect(parseConsistentRequest({ checkpoint: 'x\n', repository: 'h:1/r' })).toEqual({ checkpoint: 'x\n', repository: 'h:1/r' });
    for (const body of [{}, { checkpoint: '' }, { checkpoint: 3 }])
      expect(refusal(() => parseConsistentRequest(body))).toMatchObject({ status: 400, message: expect.stringContaining('"checkpoint"') });
    expect(refusal(() => parseConsistentRequest({ checkpoint: 'x', repository: 'bad' }))).toMatchObject({
      status: 400,
      message: expect.stringContaining('"repository"'),
    });
    expect(refusal(() => parseConsistentRequest({ checkpoint: 'x', size: 1 }))).toMatchObject({
      status: 400,
      message: 'unknown field "size": the fields are checkpoint, repository',
    });
  });

  it('each refusal gets its status and keeps its code', () => {
    const t = (code: ConstructorParameters<typeof TlogError>[0]) => replyOf(new TlogError(code, 'm'));
    expect(replyOf(new SequencerRequestError(404, 'NOT_SERVED', 'm'))).toEqual({ status: 404, code: 'NOT_SERVED', message: 'm' });
    for (const c of ['TLOG_FORK', 'TLOG_ROLLBACK', 'TLOG_DUPLICATE_REVISION', 'TLOG_TAG_MISMATCH'] as const)
      expect(t(c)).toEqual({ status: 409, code: c, message: 'm' });
    for (const c of [
      'TLOG_NOTE_MALFORMED',
      'TLOG_NOTE_BAD_KEY',
      'TLOG_NOTE_BAD_SIGNATURE',
      'TLOG_NOTE_UNVERIFIED',
      'TLOG_CHECKPOINT_MALFORMED',
      'TLOG_ORIGIN_MISMATCH',
      'TLOG_KEY_NOT_FOR_ORIGIN',
    ] as const)
      expect(t(c)).toEqual({ status: 400, code: c, message: 'm' });
    expect(t('TLOG_NO_LOG')).toMatchObject({ status: 404 });
    expect(t('TLOG_SEQUENCER_REFUSED')).toMatchObject({ status: 503 });
    expect(t('TLOG_ROOT_MISMATCH')).toMatchObject({ status: 500, code: 'TLOG_ROOT_MISMATCH' });
    expect(replyOf(new ParError('PAR_UNSIGNED', 'm'))).toEqual({ status: 422, code: 'PAR_UNSIGNED', message: 'm' });
    expect(replyOf(new RegistryError('REVISION_NOT_FOUND', 'm'))).toEqual({ status: 404, code: 'REVISION_NOT_FOUND', message: 'm' });
    expect(replyOf(new RegistryError('NOT_FOUND', 'm'))).toMatchObject({ status: 404 });
    for (const c of ['SUMMARY_MISMATCH', 'DIGEST_MISMATCH', 'BAD_MANIFEST', 'ARCHIVE_TOO_LARGE'] as const)
      expect(replyOf(new RegistryError(c, 'm'))).toEqual({ status: 422, code: c, message: 'm' });
    expect(replyOf(new RegistryError('AUTH_FAILED', 'm'))).toEqual({ status: 502, code: 'AUTH_FAILED', message: 'm' });
    expect(replyOf(new Error('boom'))).toEqual({ status: 500, code: 'INTERNAL', message: 'boom' });
    expect(replyOf('text')).toEqual({ status: 500, code: 'INTERNAL', message: 'text' });
  });
});

describe('the sequencer lease', () => {
  const fields = { url: 'http://127.0.0.1:7480', started: '2026-01-01T00:00:00.000Z', id: 'lease-1' };

  it('parses its own manifest and refuses anything else under the tag (TLOG_SEQUENCED)', () => {
    const { manifest } = leaseManifest(fields);
    expect(parseLease(manifest, 'sha256:d', 'r')).toStrictEqual({ ...fields, digest: 'sha256:d' });
    expect(JSON.parse(Buffer.from(manifest).toString())).toMatchObject({
      artifactType: 'application/vnd.gantry.log.sequencer.v1',
      layers: [
        { mediaType: 'application/vnd.gantry.log.sequencer.v1+json', annotations: { 'org.opencontainers.image.title': 'sequencer.json' } },
      ],
    });
    const released = leaseManifest({ ...fields, released: '2026-01-02T00:00:00.000Z' }).manifest;
    expect(parseLease(released, 'sha256:d', 'r')).toEqual({ ...fields, released: '2026-01-02T00:00:00.000Z', digest: 'sha256:d' });
    const m = JSON.parse(Buffer.from(manifest).toString());
    const variants: unknown[] = [
      { ...m, artifactType: 'application/vnd.other' },
      { ...m, annotations: { ...m.annotations, 'dev.gantry.sequencer.url': 'ftp://x' } },
      { ...m, annotations: { ...m.annotations, 'dev.gantry.sequencer.url': 'http://a b' } },
      { ...m, annotations: { ...m.annotations, 'dev.gantry.sequencer.url': 'xhttp://a' } },
      { ...m, annotations: { ...m.annotations, 'dev.gantry.sequencer.url': ['http://a'] } },
      { ...m, annotations: { ...m.annotations, 'dev.gantry.sequencer.url': undefined } },
      { ...m, annotations: { ...m.annotations, 'dev.gantry.sequencer.started': 1 } },
      { ...m, annotations: { ...m.annotations, 'dev.gantry.sequencer.lease': null } },
      { ...m, annotations: { ...m.annotations, 'dev.gantry.sequencer.released': 5 } },
      { ...m, annotations: undefined },
    ];
    for (const v of variants) {
      let code = 'ok';
      try {
        parseLease(json(v), 'sha256:d', 'reg/repo');
      } catch (e) {
        code = (e as TlogError).code;
        expect((e as Error).message).toContain('reg/repo:tlog.sequencer is not a sequencer lease');
      }
      expect(code, JSON.stringify(v)).toBe('TLOG_SEQUENCED');
    }
    expect(() => parseLease(new Uint8Array(Buffer.from('not json')), 'd', 'r')).toThrow(/not a sequencer lease/);
    expect(m.artifactType).toBe(SEQUENCER_ARTIFACT_TYPE);
  });

  it('is taken only when free, blocks other appenders naming its URL, is checked and released by its holder only', async () => {
    const b = layout();
    expect(await readLease(b)).toBeUndefined();
    await refuseIfSequenced(b);
    const lease = await takeLease(b, { url: fields.url, waitMs: 0, now: () => new Date(fields.started) });
    expect(lease).toMatchObject({ url: fields.url, started: fields.started });
    expect(await heldLease(b)).toEqual(lease);
    await expect(refuseIfSequenced(b)).rejects.toMatchObject({
      code: 'TLOG_SEQUENCED',
      message: expect.stringContaining(`--log-sequencer ${fields.url}`),
    });
    await checkLease(b, lease);
    // a second sequencer is refused, naming the holder
    await expect(takeLease(b, { url: 'http://other:1', waitMs: 0 })).rejects.toMatchObject({
      code: 'TLOG_SEQUENCED',
      message: expect.stringContaining(`the sequencer at ${fields.url} holds the log`),
    });
    expect(await heldLease(b)).toEqual(lease);
    // released: appends may go on; the marker records who held it
    expect(await releaseLease(b, lease, new Date('2026-01-03T00:00:00Z'))).toBe(true);
    expect(await readLease(b)).toMatchObject({ url: fields.url, released: '2026-01-03T00:00:00.000Z' });
    await expect(checkLease(b, lease)).rejects.toMatchObject({ message: expect.stringContaining(`${fields.url} released it`) });
    expect(await heldLease(b)).toBeUndefined();
    await refuseIfSequenced(b);
    expect(await codeOf(checkLease(b, lease))).toBe('TLOG_SEQUENCER_REFUSED');
    // a released lease is free to take without --take-over
    const next = await takeLease(b, { url: 'http://next:2', waitMs: 0 });
    expect(next.id).not.toBe(lease.id);
    // the old holder may not release the new one
    expect(await releaseLease(b, lease)).toBe(false);
    expect(await heldLease(b)).toEqual(next);
  });

  it('a take-over replaces a holder, which then fails its check; a removed or unreadable lease stops it too', async () => {
    const b = layout();
    const first = await takeLease(b, { url: 'http://first:1', waitMs: 0 });
    const second = await takeLease(b, { url: 'http://second:1', waitMs: 0, takeOver: true });
    await expect(checkLease(b, first)).rejects.toMatchObject({
      code: 'TLOG_SEQUENCER_REFUSED',
      message: expect.stringContaining('http://second:1 took it over'),
    });
    await checkLease(b, second);
    await b.putManifest('tlog.sequencer', json({ schemaVersion: 2, mediaType: OCI_MANIFEST }), OCI_MANIFEST);
    expect(await codeOf(checkLease(b, second))).toBe('TLOG_SEQUENCED');
    expect(await codeOf(refuseIfSequenced(b))).toBe('TLOG_SEQUENCED');
    expect(await codeOf(takeLease(b, { url: 'http://third:1', waitMs: 0, takeOver: true }))).toBe('TLOG_SEQUENCED');
  });

  it('a lease written during the wait by another sequencer wins; the first refuses to serve', async () => {
    const b = layout();
    // a wait long enough that the second write surely lands inside it, even on a loaded machine
    const taking = takeLease(b, { url: 'http://slow:1', waitMs: 2000 });
    // wait for the exact state: the first lease is visible
    for (let i = 0; i < 200 && !(await readLease(b)); i++) await new Promise((r) => setTimeout(r, 5));
    await takeLease(b, { url: 'http://fast:1', waitMs: 0, takeOver: true });
    await expect(taking).rejects.toMatchObject({
      code: 'TLOG_SEQUENCER_REFUSED',
      message: expect.stringContaining('http://fast:1 took it over'),
    });
  });
});
