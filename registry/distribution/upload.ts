/**
 * Blob uploads. Small blobs go up monolithically (POST, then PUT with the digest); larger
 * ones in PATCH chunks with `Content-Range`. When the connection breaks mid-upload we ask the
 * registry how much it holds (GET on the upload URL → `Range: 0-N`) and carry on from there.
 * A registry that invalidates the session instead (distribution 2.8 does when a PATCH was cut
 * part-way through its body) gets a fresh session, at most twice; either way the final PUT
 * names the digest and the registry checks it.
 */
import type { Logger } from '../../runtime/log.js';
import { RegistryError } from '../errors.js';
import type { DistributionClient } from './client.js';
import { backoff, isRetryable } from './failures.js';
import { discard } from './responses.js';

const MAX_RESUMES = 8;
const MAX_RESTARTS = 2;

export interface UploadOptions {
  chunkBytes: number;
  onProgress?: (sent: number, total: number) => void;
  log: Logger;
}

export async function uploadBlob(client: DistributionClient, digest: string, bytes: Uint8Array, opts: UploadOptions): Promise<void> {
  const total = bytes.length;
  if (total <= opts.chunkBytes) {
    await uploadMonolithic(client, digest, bytes);
    opts.onProgress?.(total, total);
    return;
  }
  let location = await startUpload(client);
  let offset = 0;
  let resumes = 0;
  let restarts = 0;
  while (offset < total) {
    const end = Math.min(offset + opts.chunkBytes, total);
    try {
      const { res } = await client.transport.send('PATCH', location, {
        actions: 'pull,push',
        retry: false,
        body: bytes.subarray(offset, end),
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end - 1}` },
      });
      if (res.status === 416) {
        await discard(res);
        throw new RegistryError('UPLOAD_FAILED', 'range not accepted'); // ask the registry where it stands
      }
      if (res.status !== 202) throw await client.failure(res, `upload chunk ${offset}-${end - 1} of ${digest}`);
      await discard(res);
      location = absolute(client, res.headers.get('location') ?? location);
      const held = rangeEnd(res.headers.get('range'));
      offset = held === undefined ? end : held + 1;
      opts.onProgress?.(offset, total);
    } catch (e) {
      const recoverable = isRetryable(e) || (e instanceof RegistryError && e.code === 'UPLOAD_FAILED');
      if (!recoverable || resumes >= MAX_RESUMES) throw e;
      resumes++;
      await backoff(resumes - 1);
      const status = await uploadStatus(client, location);
      if (status) {
        opts.log.info({ digest, offset: status.offset, was: offset }, 'upload resumed after a broken connection');
        location = status.location;
        offset = status.offset;
      } else {
        if (restarts >= MAX_RESTARTS)
          throw new RegistryError(
            'UPLOAD_FAILED',
            `${client.description}: upload of ${digest} kept failing (${(e as Error).message}); the registry dropped the session ${restarts + 1} times`,
            { cause: e },
          );
        restarts++;
        opts.log.warn({ digest, offset }, 'registry dropped the upload session after a broken connection; starting a new one');
        location = await startUpload(client);
        offset = 0;
      }
      opts.onProgress?.(offset, total);
    }
  }
  const { res } = await client.transport.send('PUT', withDigest(location, digest), {
    actions: 'pull,push',
    retry: true,
    headers: { 'content-length': '0' },
  });
  if (res.status !== 201) throw await client.failure(res, `complete upload of ${digest}`);
  await discard(res);
}

async function uploadMonolithic(client: DistributionClient, digest: string, bytes: Uint8Array): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const location = await startUpload(client);
    try {
      const { res } = await client.transport.send('PUT', withDigest(location, digest), {
        actions: 'pull,push',
        retry: false,
        body: bytes,
        headers: { 'content-type': 'application/octet-stream' },
      });
      if (res.status !== 201) throw await client.failure(res, `upload ${digest}`);
      await discard(res);
      return;
    } catch (e) {
      if (!isRetryable(e) || attempt >= MAX_RESTARTS) throw e;
      await backoff(attempt);
    }
  }
}

async function startUpload(client: DistributionClient): Promise<string> {
  const { res } = await client.transport.send('POST', `/v2/${client.repository}/blobs/uploads/`, {
    actions: 'pull,push',
    retry: true,
    headers: { 'content-length': '0' },
  });
  if (res.status !== 202) throw await client.failure(res, 'start blob upload');
  await discard(res);
  const location = res.headers.get('location');
  if (!location) throw new RegistryError('UPLOAD_FAILED', `${client.description}: registry started an upload without a Location`);
  return absolute(client, location);
}

/** Where an upload session stands, or undefined when the registry no longer knows it. */
async function uploadStatus(client: DistributionClient, location: string): Promise<{ location: string; offset: number } | undefined> {
  const { res } = await client.transport.send('GET', location, { actions: 'pull,push', retry: true });
  await discard(res);
  if (res.status === 404 || res.status === 400) return undefined;
  if (res.status !== 204 && res.status !== 200)
    throw new RegistryError('UPLOAD_FAILED', `${client.description}: upload status returned ${res.status}`, { status: res.status });
  const end = rangeEnd(res.headers.get('range'));
  return { location: absolute(client, res.headers.get('location') ?? location), offset: end === undefined ? 0 : end + 1 };
}

function absolute(client: DistributionClient, location: string): string {
  return new URL(location, client.transport.baseUrl).toString();
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

/** Last byte held, from `Range: 0-N` (distribution writes `0-N` without `bytes=`). */
function rangeEnd(header: string | null): number | undefined {
  if (!header) return undefined;
  const m = /(\d+)-(\d+)\s*$/.exec(header);
  if (!m) return undefined;
  // distribution answers `0-0` for an empty session too; resuming at 0 is the safe reading
  if (m[2] === '0') return -1;
  return Number(m[2]);
}
