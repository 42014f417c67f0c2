/**
 * What `gantry install` decides from what the cluster holds (cli/install-plan.ts), without a
 * server: each consistent state is made or kept, and each half state that cannot be right is
 * refused with its own reason (exit 1, "changed nothing"). test/cli/install.test.ts shows the
 * same through the CLI on both API servers.
 */
import { describe, expect, it } from 'vitest';
import { type ClusterState, planBus, planMembrane, secretValue, seedsOf } from '../../cli/install-plan.js';
import { MembraneAuthority } from '../../membrane/index.js';

const a = MembraneAuthority.generate();
const other = MembraneAuthority.generate();
const b64 = (s: string) => Buffer.from(s).toString('base64');
const keysOf = (m: MembraneAuthority, extra: Record<string, string> = {}) => ({
  metadata: { namespace: 'gantry-membrane', name: 'gantry-membrane-keys' },
  data: {
    'operator.nk': b64(`${m.seeds().operator}\n`),
    'system-account.nk': b64(m.seeds().system),
    'gantry-account.nk': b64(m.seeds().account),
    ...extra,
  },
});
const confOf = (m: MembraneAuthority, conf = m.serverConfig('/data/jwt')) => ({
  metadata: { namespace: 'gantry-system', name: 'gantry-nats-membrane' },
  data: { 'membrane.conf': conf },
});
const CA = '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n';
const tlsOf = (ca: string) => ({ metadata: { namespace: 'gantry-system', name: 'gantry-nats-tls' }, data: { 'ca.crt': b64(ca) } });
const caOf = (ca: string) => ({ metadata: { namespace: 'gantry-system', name: 'gantry-nats-ca' }, data: { 'ca.crt': ca } });

/** The refusal: exit 1, its reason, and that nothing was changed. */
function refusal(f: () => unknown): { message: string; exitCode?: number } {
  try {
    f();
  } catch (e) {
    const err = e as Error & { exitCode?: number };
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/^install: .*; gantry install changed nothing$/s);
    return { message: err.message, exitCode: err.exitCode };
  }
  throw new Error('expected a refusal');
}

describe('secretValue and seedsOf', () => {
  it('reads data (base64) and stringData (as written, which wins), and trims the seeds', () => {
    expect(secretValue({ data: { k: b64('v') } }, 'k')).toBe('v');
    expect(secretValue({ data: { k: b64('v') }, stringData: { k: 'w' } }, 'k')).toBe('w');
    expect(secretValue({ stringData: { k: '' } }, 'k')).toBe('');
    expect(secretValue({}, 'k')).toBeUndefined();
    expect(seedsOf(keysOf(a))).toEqual(a.seeds());
  });

  it('names the Secret and the missing or wrong seed', () => {
    const { 'gantry-account.nk': _, ...twoSeeds } = keysOf(a).data;
    expect(refusal(() => seedsOf({ ...keysOf(a), data: twoSeeds })).message).toBe(
      'install: the Secret gantry-membrane/gantry-membrane-keys has no gantry-account.nk (it must hold operator.nk, system-account.nk, gantry-account.nk); gantry install changed nothing',
    );
    expect(refusal(() => seedsOf(keysOf(a, { 'operator.nk': b64('  \n') }), 'FILE')).message).toContain('FILE has no operator.nk');
    const swapped = keysOf(a, { 'operator.nk': b64(a.seeds().account) });
    expect(refusal(() => seedsOf(swapped)).message).toMatch(
      /^install: the Secret gantry-membrane\/gantry-membrane-keys does not hold membrane keys: .+; gantry install changed nothing$/,
    );
  });
});

describe('planMembrane', () => {
  it('nothing there: make both (new keys, or the restored ones)', () => {
    expect(planMembrane({})).toEqual({ make: 'both', seeds: undefined });
    expect(planMembrane({}, a.seeds())).toEqual({ make: 'both', seeds: a.seeds() });
  });

  it('keys and the config made from them: keep both (a backup of the same keys too)', () => {
    const s: ClusterState = { keys: keysOf(a), membrane: confOf(a) };
    expect(planMembrane(s)).toEqual({ make: 'nothing', seeds: a.seeds() });
    expect(planMembrane(s, a.seeds())).toEqual({ make: 'nothing', seeds: a.seeds() });
  });

  it('a backup of other keys than the cluster holds: refused, whichever seed differs', () => {
    const s = { keys: keysOf(a), membrane: confOf(a) };
    for (const k of ['operator', 'system', 'account'] as const) {
      const mixed = { ...a.seeds(), [k]: other.seeds()[k] };
      expect(refusal(() => planMembrane(s, mixed)).message, k).toContain('holds other keys than the backup;');
      expect(refusal(() => planMembrane(s, mixed, 'B')).message, k).toBe(
        "install: the cluster's Secret gantry-membrane/gantry-membrane-keys holds other keys than B; it is kept as it is; gantry install changed nothing",
      );
    }
  });

  it('keys without their config, or with a config of other keys: refused', () => {
    expect(refusal(() => planMembrane({ keys: keysOf(a) })).message).toContain(
      'the Secret gantry-membrane/gantry-membrane-keys holds membrane keys but the ConfigMap gantry-nats-membrane',
    );
    const wrong =
      'install: the ConfigMap gantry-system/gantry-nats-membrane names another operator or system account than the keys in the Secret gantry-membrane/gantry-membrane-keys';
    expect(refusal(() => planMembrane({ keys: keysOf(a), membrane: confOf(other) })).message).toContain(wrong);
    // the same operator with another system account, and the other way round
    const sysSwapped = a.serverConfig('/d').replace(`system_account: ${a.systemAccountKey}`, `system_account: ${other.systemAccountKey}`);
    expect(refusal(() => planMembrane({ keys: keysOf(a), membrane: confOf(a, sysSwapped) })).message).toContain(wrong);
    const opSwapped = a.serverConfig('/d').replace(/^operator: \S+$/m, `operator: ${other.operatorJwt()}`);
    expect(refusal(() => planMembrane({ keys: keysOf(a), membrane: confOf(a, opSwapped) })).message).toContain(wrong);
    // only whole lines count: a commented-out or trailing-text line names nothing
    const op = `operator: ${a.operatorJwt()}`;
    const sys = `system_account: ${a.systemAccountKey}`;
    expect(planMembrane({ keys: keysOf(a), membrane: confOf(a, `${op}\n${sys}\n`) })).toEqual({ make: 'nothing', seeds: a.seeds() });
    for (const broken of [
      '',
      'operator: not-a-jwt\n',
      `${sys}\n`,
      `#${op}\n${sys}\n`,
      `${op} x\n${sys}\n`,
      `${op}\n#${sys}\n`,
      `${op}\n${sys} x\n`,
    ])
      expect(refusal(() => planMembrane({ keys: keysOf(a), membrane: confOf(a, broken) })).message).toContain(wrong);
    expect(refusal(() => planMembrane({ keys: keysOf(a), membrane: { metadata: {} } })).message).toContain('names another operator');
  });

  it('the config without its keys: refused, unless restoring the keys it names', () => {
    const lone = { membrane: confOf(a) };
    const without = refusal(() => planMembrane(lone)).message;
    expect(without).toBe(
      "install: the ConfigMap gantry-system/gantry-nats-membrane (the NATS servers' operator config) is there but the Secret gantry-membrane-keys with its keys is not: restore the Secret from your backup (gantry install --membrane-keys FILE); gantry install changed nothing",
    );
    expect(refusal(() => planMembrane(lone, other.seeds(), 'B')).message).toContain(
      'with its keys is not, and B holds other keys than it names:',
    );
    expect(planMembrane(lone, a.seeds())).toEqual({ make: 'secret', seeds: a.seeds() });
  });
});

describe('planBus', () => {
  it('nothing there: make both; both there with the same CA: keep (whitespace aside)', () => {
    expect(planBus({})).toEqual({ make: 'both' });
    expect(planBus({}, CA)).toEqual({ make: 'both' });
    expect(planBus({ tls: tlsOf(CA), ca: caOf(`${CA}\n`) })).toEqual({ make: 'nothing' });
  });

  it('a TLS Secret whose CA is not the ConfigMap CA, or without ca.crt: refused', () => {
    const msg =
      "install: the Secret gantry-system/gantry-nats-tls's ca.crt is not the CA in the ConfigMap gantry-system/gantry-nats-ca: clients would not trust the NATS servers; gantry install changed nothing";
    expect(refusal(() => planBus({ tls: tlsOf('other'), ca: caOf(CA) })).message).toBe(msg);
    expect(refusal(() => planBus({ tls: { metadata: tlsOf(CA).metadata }, ca: caOf(CA) })).message).toBe(msg);
    expect(refusal(() => planBus({ tls: tlsOf(CA), ca: { metadata: caOf(CA).metadata } })).message).toBe(msg);
  });

  it('the TLS Secret without the CA ConfigMap: refused', () => {
    expect(refusal(() => planBus({ tls: tlsOf(CA) }, CA)).message).toContain(
      "the Secret gantry-system/gantry-nats-tls (the NATS servers' certificate) is there but the ConfigMap gantry-nats-ca (the CA clients trust) is not",
    );
  });

  it('the CA without a server certificate: a new one when --dir keeps that CA, else refused saying which', () => {
    expect(planBus({ ca: caOf(CA) }, `${CA}\n`)).toEqual({ make: 'tls-secret' });
    expect(refusal(() => planBus({ ca: caOf(CA) })).message).toContain(
      'names a CA but the Secret gantry-nats-tls is missing, and no CA is kept in --dir to issue a new certificate from',
    );
    expect(refusal(() => planBus({ ca: caOf(CA) }, 'another CA')).message).toContain('and the CA kept in --dir is not that CA to issue');
    expect(refusal(() => planBus({ ca: { metadata: caOf(CA).metadata } }, CA)).message).toContain('the CA kept in --dir is not that CA');
  });
});
