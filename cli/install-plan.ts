/**
 * What `gantry install` finds in the cluster and what it may do about it, decided before
 * anything is written: each pair of objects that belong together (the keys Secret and the
 * NATS config made from them; the NATS servers' TLS Secret and the CA clients trust) is
 * either absent (made), present and consistent (kept), or a half state that cannot be right,
 * which stops the install with what is wrong and changes nothing.
 */
import { decodeJwt, KEY_FILES, MembraneAuthority, TLS_SECRET_FILES } from '../membrane/index.js';
import { cliError } from './keys.js';
import { KEYS_SECRET, MEMBRANE_CONFIGMAP, NATS_CA_CONFIGMAP, NATS_TLS_SECRET, type Seeds } from './membrane-objects.js';

type Obj = { metadata?: { namespace?: string; name?: string }; data?: Record<string, string>; stringData?: Record<string, string> };

/** The objects install owns, as read from the cluster (undefined: 404). */
export interface ClusterState {
  keys?: Obj;
  membrane?: Obj;
  tls?: Obj;
  ca?: Obj;
}

export type MembranePlan = { make: 'both'; seeds?: Seeds } | { make: 'secret'; seeds: Seeds } | { make: 'nothing'; seeds: Seeds };
export type BusPlan = { make: 'both' } | { make: 'tls-secret' } | { make: 'nothing' };

const halfState = (msg: string) => cliError(`install: ${msg}; gantry install changed nothing`, 1);
// Stryker disable next-line OptionalChaining: every object read from the API has metadata (the ?. is for the type only)
const name = (o: Obj) => `${o.metadata?.namespace}/${o.metadata?.name}`;

/** A Secret's value whether read back (data, base64) or as written (stringData). */
export function secretValue(o: Obj, key: string): string | undefined {
  if (o.stringData?.[key] !== undefined) return o.stringData[key];
  const b64 = o.data?.[key];
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
}

/** The three seeds of a keys Secret; a clear error naming the Secret (or file) when one is missing or not a seed. */
export function seedsOf(o: Obj, where = `the Secret ${name(o)}`): Seeds {
  const get = (f: string) => {
    const v = secretValue(o, f)?.trim();
    if (!v) throw halfState(`${where} has no ${f} (it must hold ${Object.values(KEY_FILES).join(', ')})`);
    return v;
  };
  const seeds = { operator: get(KEY_FILES.operator), system: get(KEY_FILES.system), account: get(KEY_FILES.account) };
  try {
    MembraneAuthority.fromSeeds(seeds);
  } catch (e) {
    throw halfState(`${where} does not hold membrane keys: ${(e as Error).message}`);
  }
  return seeds;
}

/** The operator and system account a membrane.conf names (its operator JWT's subject, its system_account). */
function confKeys(conf: string): { operator?: string; system?: string } {
  const jwt = /^operator: (\S+)$/m.exec(conf)?.[1];
  let operator: string | undefined;
  try {
    operator = jwt ? decodeJwt(jwt).sub : undefined;
  } catch {
    // not a JWT: it names no operator (operator stays undefined)
  }
  return { operator, system: /^system_account: (\S+)$/m.exec(conf)?.[1] };
}

/** Whether the NATS config in the cluster was made from `seeds` (same operator, same system account). */
function confMatches(cm: Obj, seeds: Seeds): boolean {
  const a = MembraneAuthority.fromSeeds(seeds);
  // Stryker disable next-line StringLiteral: any placeholder names no operator
  const k = confKeys(cm.data?.['membrane.conf'] ?? '');
  return k.operator === a.operatorKey && k.system === a.systemAccountKey;
}

/**
 * The keys Secret and the NATS config made from its keys. `restored`: seeds from a backup
 * (--membrane-keys), which must be the cluster's when the cluster has keys.
 */
export function planMembrane(s: ClusterState, restored?: Seeds, restoredFrom = 'the backup'): MembranePlan {
  if (s.keys) {
    const seeds = seedsOf(s.keys);
    if (restored && (restored.operator !== seeds.operator || restored.system !== seeds.system || restored.account !== seeds.account))
      throw halfState(`the cluster's Secret ${name(s.keys)} holds other keys than ${restoredFrom}; it is kept as it is`);
    if (!s.membrane)
      throw halfState(
        `the Secret ${name(s.keys)} holds membrane keys but the ConfigMap ${MEMBRANE_CONFIGMAP} (the NATS servers' operator config made from them) is missing: restore it from your backup, or delete the Secret too to start with new keys (every credential signed with the old ones then stops working)`,
      );
    if (!confMatches(s.membrane, seeds))
      throw halfState(
        `the ConfigMap ${name(s.membrane)} names another operator or system account than the keys in the Secret ${name(s.keys)}: NATS would refuse every credential the controller mints`,
      );
    return { make: 'nothing', seeds };
  }
  if (s.membrane) {
    if (restored && confMatches(s.membrane, restored)) return { make: 'secret', seeds: restored };
    throw halfState(
      `the ConfigMap ${name(s.membrane)} (the NATS servers' operator config) is there but the Secret ${KEYS_SECRET} with its keys is not${restored ? `, and ${restoredFrom} holds other keys than it names` : ''}: restore the Secret from your backup (gantry install --membrane-keys FILE)`,
    );
  }
  return { make: 'both', seeds: restored };
}

/**
 * The NATS servers' TLS Secret and the CA ConfigMap clients trust. `localCa`: the CA
 * certificate kept in --dir, whose key can issue a new server certificate (the rotation path:
 * delete the TLS Secret and run install again).
 */
export function planBus(s: ClusterState, localCa?: string): BusPlan {
  // Stryker disable next-line StringLiteral: a missing ca.crt on either side is a mismatch with any placeholder but one both sides share
  const caOf = (o: Obj) => (o.data?.['ca.crt'] ?? '').trim();
  if (s.tls && s.ca) {
    // Stryker disable next-line StringLiteral: as caOf above
    const inSecret = (secretValue(s.tls, TLS_SECRET_FILES.ca) ?? '').trim();
    if (inSecret !== caOf(s.ca))
      throw halfState(
        `the Secret ${name(s.tls)}'s ca.crt is not the CA in the ConfigMap ${name(s.ca)}: clients would not trust the NATS servers`,
      );
    return { make: 'nothing' };
  }
  if (s.tls)
    throw halfState(
      `the Secret ${name(s.tls)} (the NATS servers' certificate) is there but the ConfigMap ${NATS_CA_CONFIGMAP} (the CA clients trust) is not: create it from the Secret's ca.crt or delete the Secret`,
    );
  if (s.ca) {
    if (localCa !== undefined && localCa.trim() === caOf(s.ca)) return { make: 'tls-secret' };
    throw halfState(
      `the ConfigMap ${name(s.ca)} names a CA but the Secret ${NATS_TLS_SECRET} is missing, and ${localCa === undefined ? 'no CA is kept in --dir' : 'the CA kept in --dir is not that CA'} to issue a new certificate from: pass the --dir that holds ca/ca.key`,
    );
  }
  return { make: 'both' };
}
