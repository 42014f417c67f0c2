/**
 * Subject tokens are injective: names that differ only in '.' vs '_' (or any other character)
 * never share a subject, so one Provider cannot receive another's calls. Checked on the
 * encoding itself and on a real nats-server (which must accept the encoded subjects as-is).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { capabilitySubject, providerSubject, subjectToken } from '../../client/protocol.js';
import { startNats, type NatsServer } from '../support/nats.js';

describe('subject tokens', () => {
  it('keep names apart that the old mapping collapsed, and stay single tokens', () => {
    const pairs: [string, string][] = [
      ['acme:kv.v2', 'acme:kv_v2'],
      ['prod.db', 'prod_db'],
      ['a b', 'a_b'],
      ['x*', 'x_'],
      ['y>', 'y_'],
      ['50%2E', '50.'],
      ['tab\there', 'tab_here'],
    ];
    for (const [a, b] of pairs) {
      expect(subjectToken(a)).not.toBe(subjectToken(b));
      for (const t of [subjectToken(a), subjectToken(b)]) expect(t).toMatch(/^[^.*>\s]+$/);
    }
    expect(subjectToken('acme:kv.v2')).toBe('acme:kv%2Ev2');
    expect(subjectToken('wascap:keyvalue')).toBe('wascap:keyvalue');
    expect(subjectToken('é.ü')).toBe('é%2Eü');
    expect(() => subjectToken('')).toThrow(/empty/);
  });

  it('are injective over a sample of names built from the characters that matter', () => {
    const alphabet = ['a', '.', '_', '%', '2', 'E', '*', '>', ' ', '-'];
    const seen = new Map<string, string>();
    const names: string[] = [];
    for (const x of alphabet) for (const y of alphabet) for (const z of alphabet) names.push(x + y + z);
    for (const n of names) {
      const t = subjectToken(n);
      expect(seen.get(t) ?? n).toBe(n);
      seen.set(t, n);
    }
    expect(seen.size).toBe(names.length);
  });
});

describe('on a real nats-server', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('a call to prod.db never reaches prod_db, and capids acme:kv.v2 / acme:kv_v2 stay apart', async () => {
    const got: string[] = [];
    const subjects = [
      providerSubject('apps', 'prod.db'),
      providerSubject('apps', 'prod_db'),
      capabilitySubject('apps', 'acme:kv.v2', 'default'),
      capabilitySubject('apps', 'acme:kv_v2', 'default'),
    ];
    expect(new Set(subjects).size).toBe(4);
    const subs = subjects.map((s) =>
      nc.subscribe(s, {
        callback: (_e, m) => {
          got.push(`${s} <- ${new TextDecoder().decode(m.data)}`);
          m.respond(m.data);
        },
      }),
    );
    await nc.flush();
    for (const s of subjects) {
      const r = await nc.request(s, new TextEncoder().encode(s), { timeout: 2000 });
      expect(new TextDecoder().decode(r.data)).toBe(s);
    }
    expect(got).toEqual(subjects.map((s) => `${s} <- ${s}`));
    for (const s of subs) s.unsubscribe();
  });
});
