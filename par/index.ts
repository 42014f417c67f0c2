/**
 * Provider Archives (PAR): the signed container a native capability provider ships in.
 * Read zip, tar and gzip'd tar (detected by their bytes); write zip by default and wasmCloud's
 * tar layout on request; sign and verify wascap claims with nkeys. Every refusal is a ParError
 * with a stable code. See docs/par.md.
 */
export { ParError, isParError, PAR_ERROR_CODES, type ParErrorCode } from './errors.js';
export { DEFAULT_PAR_LIMITS, resolveLimits, type ParLimits } from './limits.js';
export { ARCHES, OSES, WORLD_TARGET, CLAIMS_ENTRY, isValidTarget, assertValidTarget, entryNameForTarget } from './entries.js';
export { detectFormat, type ParFormat } from './walk.js';
export {
  verifyPar,
  verifyClaimsToken,
  inspectPar,
  readVerifiedContents,
  type VerifyOptions,
  type VerifiedPar,
  type ParTarget,
  type InspectedPar,
  type InspectedTarget,
} from './verify.js';
export { verifyClaimsPrefix, tarBinaryRanges, type PrefixClaims } from './prefix.js';
export { createPar, insertTarget, packPar, PAR_FORMATS, type CreateParOptions, type InsertTargetOptions } from './create.js';
export { normalizeProviderClaims, providerClaimsJson, newJti, type ProviderClaims, type ProviderClaimsInput } from './claims.js';
export {
  signClaims,
  decodeClaimsJwt,
  verifyClaimsJwt,
  claimsSignatureValid,
  JWT_HEADER,
  JWT_HEADER_B64,
  type DecodedClaimsJwt,
} from './jwt.js';
export {
  generateSeed,
  publicKeyFromSeed,
  privateKeyFromSeed,
  keyTypeOf,
  isAccountKey,
  isServiceKey,
  isModuleKey,
  decodeSeed,
  encodeSeed,
  decodePublicKey,
  encodePublicKey,
  signWithSeed,
  verifyWithPublicKey,
  base32Encode,
  base32Decode,
  crc16,
  type NKeyType,
  type DecodedSeed,
} from './nkeys.js';
export { tarHeader, writeTar } from './tar.js';
