/**
 * Reads the real control plane's etcd directly, to check where a value is *stored* — not only
 * what the API shows. etcd serves its v3 KV API as JSON over HTTP on the client URL (the
 * grpc-gateway, on by default), so no etcdctl has to be built: keys and values travel base64.
 * kube-apiserver stores built-in kinds as protobuf and custom resources as JSON, and neither
 * encodes a string's bytes, so a value written into any object shows up verbatim in its key's
 * value (Secret data included: it is stored as bytes, not base64).
 *
 *   const keys = await etcdKeysHolding(api.controlPlane!.etcdUrl, 'canary-3f9a');
 *   expect(keys).toEqual(['/registry/secrets/apps/db']);
 */

interface RangeReply {
  kvs?: { key: string; value?: string }[];
  more?: boolean;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

/** Every key (sorted) whose current value contains `needle`, scanning the whole keyspace a page at a time. */
export async function etcdKeysHolding(etcdUrl: string, needle: string, pageSize = 500): Promise<string[]> {
  const want = Buffer.from(needle);
  const found: string[] = [];
  let from = Buffer.from([0]);
  for (;;) {
    const res = await fetch(`${etcdUrl}/v3/kv/range`, {
      method: 'POST',
      // range_end "\0" with key "\0": every key from `from` on
      body: JSON.stringify({ key: b64(from), range_end: b64(Buffer.from([0])), limit: pageSize }),
    });
    if (!res.ok) throw new Error(`etcd range at ${etcdUrl}: HTTP ${res.status} ${await res.text()}`);
    const page = (await res.json()) as RangeReply;
    const kvs = page.kvs ?? [];
    for (const kv of kvs) {
      if (kv.value && Buffer.from(kv.value, 'base64').includes(want)) found.push(Buffer.from(kv.key, 'base64').toString('utf8'));
    }
    if (!page.more || kvs.length === 0) return found.sort();
    // the next page starts just after the last key of this one
    from = Buffer.concat([Buffer.from(kvs[kvs.length - 1]!.key, 'base64'), Buffer.from([0])]);
  }
}
