/**
 * Object names as kube-apiserver checks them on create. Every kind validates `metadata` with
 * one name rule (apimachinery `ValidateObjectMetaAccessor`): `generateName` with the rule as a
 * prefix (a trailing '-' is allowed), then `name`, then — for namespaced kinds — the namespace,
 * which is always a DNS-1123 label. The rule depends on the kind:
 *
 *   subdomain     most built-ins (ConfigMap, Secret, Pod, Node, Lease, Deployment, …) and every
 *                 custom resource (apiextensions `NameIsDNSSubdomain`); a CRD's name must also
 *                 be `plural.group` (handlers.ts)
 *   label         Namespace (`ValidateNamespaceName`), StatefulSet (a DNS label since v1.27:
 *                 the name becomes each Pod's hostname)
 *   dns1035       Service (`ValidateServiceName`, v1.30 — the relaxed rule came later)
 *   path-segment  RBAC kinds (`ValidateRBACName`), and the kinds whose own validation checks no
 *                 name (core/v1 Event, PodDisruptionBudget): only the generic check of
 *                 `rest.BeforeCreate` applies — not '.' or '..', no '/' or '%'
 *
 * Messages are apimachinery's, word for word, so a client sees what a real cluster says:
 *   Namespace "Bad.NS" is invalid: metadata.name: Invalid value: "Bad.NS": a lowercase RFC 1123
 *   label must consist of …
 * Lengths are counted in bytes, as Go's len() does.
 */
import type { StatusCause } from './errors.js';
import type { ObjectMeta } from './types.js';

export type NameRule = 'subdomain' | 'label' | 'dns1035' | 'path-segment';

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const SUBDOMAIN = `${LABEL}(\\.${LABEL})*`;
const DNS1035 = '[a-z]([-a-z0-9]*[a-z0-9])?';
const labelRe = new RegExp(`^${LABEL}$`);
const subdomainRe = new RegExp(`^${SUBDOMAIN}$`);
const dns1035Re = new RegExp(`^${DNS1035}$`);

/** apimachinery's RegexError: the message, examples, then the regex. */
function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${fmt}')`;
}
const maxLen = (n: number) => `must be no more than ${n} characters`;
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

export function dns1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (bytes(value) > 253) errs.push(maxLen(253));
  if (!subdomainRe.test(value))
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        SUBDOMAIN,
        'example.com',
      ),
    );
  return errs;
}

export function dns1123Label(value: string): string[] {
  const errs: string[] = [];
  if (bytes(value) > 63) errs.push(maxLen(63));
  if (!labelRe.test(value)) {
    // A valid subdomain that is no label can only have dots in it (the length was checked).
    if (subdomainRe.test(value)) errs.push('must not contain dots');
    else
      errs.push(
        regexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
          LABEL,
          'my-name',
          '123-abc',
        ),
      );
  }
  return errs;
}

export function dns1035Label(value: string): string[] {
  const errs: string[] = [];
  if (bytes(value) > 63) errs.push(maxLen(63));
  if (!dns1035Re.test(value))
    errs.push(
      regexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        DNS1035,
        'my-name',
        'abc-123',
      ),
    );
  return errs;
}

/** `path.IsValidPathSegmentName`; as a prefix only the characters are checked. */
export function pathSegmentName(value: string, prefix = false): string[] {
  if (!prefix && (value === '.' || value === '..')) return [`may not be '${value}'`];
  return ['/', '%'].filter((c) => value.includes(c)).map((c) => `may not contain '${c}'`);
}

/** A generateName may end in '-': it is checked with its last character made a letter. */
function maskTrailingDash(name: string): string {
  return name.endsWith('-') ? name.slice(0, -1) + 'a' : name;
}

export function checkName(rule: NameRule, name: string, prefix = false): string[] {
  if (rule === 'path-segment') return pathSegmentName(name, prefix);
  const v = prefix ? maskTrailingDash(name) : name;
  if (rule === 'label') return dns1123Label(v);
  if (rule === 'dns1035') return dns1035Label(v);
  return dns1123Subdomain(v);
}

/** Go's %q for the strings we quote: printable characters as they are, the rest escaped. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

const invalid = (field: string, value: string, detail: string): StatusCause => ({
  reason: 'FieldValueInvalid',
  message: `Invalid value: ${goQuote(value)}: ${detail}`,
  field,
});

/**
 * The `metadata` problems of an object about to be created (name generation already done), in
 * apimachinery's order: generateName, name, namespace.
 */
export function objectMetaCauses(rule: NameRule, namespaced: boolean, meta: ObjectMeta): StatusCause[] {
  const causes: StatusCause[] = [];
  const { generateName, name, namespace } = meta;
  if (typeof generateName === 'string' && generateName) {
    for (const m of checkName(rule, generateName, true)) causes.push(invalid('metadata.generateName', generateName, m));
  }
  if (!name)
    causes.push({ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' });
  else for (const m of checkName(rule, name)) causes.push(invalid('metadata.name', name, m));
  if (namespaced) {
    if (!namespace) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'metadata.namespace' });
    else for (const m of dns1123Label(namespace)) causes.push(invalid('metadata.namespace', namespace, m));
  }
  return causes;
}

/** SimpleNameGenerator: the prefix is cut to 58 bytes so prefix + 5 random characters fit 63. */
export const MAX_GENERATED_PREFIX = 58;
export function generatedNamePrefix(generateName: string): string {
  if (bytes(generateName) <= MAX_GENERATED_PREFIX) return generateName;
  return Buffer.from(generateName, 'utf8').subarray(0, MAX_GENERATED_PREFIX).toString('utf8');
}
