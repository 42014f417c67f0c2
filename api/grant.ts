/**
 * CapabilityGrant: the importer's side of the membrane. It names a caller (a NATS user public
 * key the caller generated and keeps the seed of), what it may call (a Provider in the same
 * namespace, or a capability id + link name) and which operations (`*` = all), optionally
 * until when. The controller mints a user JWT carrying exactly those permissions and expiry
 * (status.userJwt — public, useless without the grantee's seed; `gantry grant creds` joins the
 * two into a .creds file), and revokes it on deletion (finalizer gantry.dev/revoke) or expiry.
 */
import { z } from 'zod';
import { CapabilityId, Condition, type apiVersion } from './common.js';
import type { ObjectMeta } from './provider.js';
import { immutable } from './rules.js';

export const userKeyPattern = '^U[A-Z2-7]{55}$';
export const GRANT_FINALIZER = 'gantry.dev/revoke';
export const GRANTEE_IMMUTABLE = 'spec.grantee is immutable: delete the grant and create one for the new key';

export const CapabilityGrantSpec = z.object({
  // Immutable: the controller revokes on delete only the key the grant names, so a key that
  // could change would leave the first one calling (docs/security.md).
  grantee: immutable(
    z
      .object({
        nkey: z
          .string()
          .regex(new RegExp(userKeyPattern))
          .describe("the caller's NATS user public key (U…); `gantry keys generate --type user` makes one"),
      })
      .describe('who calls; immutable: a new key is a new grant'),
    GRANTEE_IMMUTABLE,
  ),
  provider: z.string().min(1).max(253).optional().describe('a Provider in this namespace (exactly one of provider and capabilityId)'),
  capabilityId: CapabilityId.optional().describe(
    'a capability id, served by any Provider in this namespace (exactly one of provider and capabilityId)',
  ),
  linkName: z.string().min(1).max(63).optional().describe('with capabilityId: the link name (default "default")'),
  operations: z.array(z.string().min(1).max(253)).min(1).max(64).describe('operations the grantee may call; "*" for all'),
  expires: z.iso.datetime({ offset: true }).optional().describe('RFC 3339; after it the grant is refused'),
});
export type CapabilityGrantSpec = z.infer<typeof CapabilityGrantSpec>;

export const CapabilityGrantStatus = z.object({
  observedGeneration: z.int().min(0).optional(),
  conditions: z.array(Condition).optional(),
  userJwt: z.string().max(16384).optional().describe("the minted user JWT (public; useless without the grantee's seed)"),
  expires: z.string().optional(),
  issuedAt: z.string().optional(),
});
export type CapabilityGrantStatus = z.infer<typeof CapabilityGrantStatus>;

export interface CapabilityGrant {
  apiVersion: typeof apiVersion;
  kind: 'CapabilityGrant';
  metadata: ObjectMeta;
  spec: CapabilityGrantSpec;
  status?: CapabilityGrantStatus;
}

/** Why a spec cannot be granted (the schema cannot say "exactly one of"); empty when fine. */
export function grantSpecProblems(spec: CapabilityGrantSpec): string[] {
  const p: string[] = [];
  if (!!spec.provider === !!spec.capabilityId) p.push('name exactly one of spec.provider and spec.capabilityId');
  if (spec.linkName && !spec.capabilityId) p.push('spec.linkName goes with spec.capabilityId');
  if (spec.expires && Number.isNaN(Date.parse(spec.expires))) p.push('spec.expires is not an RFC 3339 time');
  return p;
}

/** What a grant points at, for display (the TARGET column is computed the same way by kubectl from either field). */
export function grantTarget(spec: CapabilityGrantSpec): string {
  return spec.provider ? `provider/${spec.provider}` : `${spec.capabilityId}@${spec.linkName ?? 'default'}`;
}
