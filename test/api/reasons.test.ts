/**
 * One vocabulary of reasons (api/reasons.ts): the controller and the agent both read it, and
 * the reference docs list exactly its words.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  INSTANCE_FAILURE_REASONS,
  INSTANCE_PROGRESS_REASONS,
  PROVIDER_CONDITION_REASONS,
  REPLACEMENT_REASONS,
  RESOLVE_FAILURE_REASONS,
  reasonsByCode,
  reasonsForCode,
  type ErrorCode,
} from '../../api/reasons.js';
import { PAR_ERROR_CODES } from '../../par/errors.js';
import { HostErrorCodes } from '../../agent/host/errors.js';
import { failureFromError } from '../../controller/providers/archive/resolver.js';
import { classify } from '../../agent/failure.js';

const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');
const words = (text: string) => [...text.matchAll(/`([A-Z][A-Za-z]+)`/g)].map((m) => m[1]);
const coded = (code: string) => Object.assign(new Error(`failed with ${code}`), { code });

describe('the reason vocabulary', () => {
  it('docs/crd-reference.md lists exactly the reasons of every Provider condition', () => {
    const text = doc('crd-reference.md');
    const table = text.slice(text.indexOf('### conditions'), text.indexOf('Events on the Provider'));
    const found = new Map<string, string[]>();
    let type = '';
    for (const line of table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| type'))) {
      const [, first, second] = line.split('|').map((c) => c.trim());
      if (first) type = first.replace(/`/g, '');
      found.set(type, [...(found.get(type) ?? []), ...words(second)]);
    }
    for (const [t, reasons] of Object.entries(PROVIDER_CONDITION_REASONS)) {
      expect([...new Set(found.get(t))].sort(), `condition ${t}`).toEqual([...reasons].sort());
    }
    expect([...found.keys()].sort()).toEqual(Object.keys(PROVIDER_CONDITION_REASONS).sort());
    const replaced = /`InstancesReplaced` \(Warning:[^)]*\)/.exec(text)?.[0] ?? '';
    expect(
      words(replaced)
        .filter((w) => w !== 'InstancesReplaced')
        .sort(),
    ).toEqual([...REPLACEMENT_REASONS].sort());
  });

  it('docs/agent.md lists exactly the instance reasons', () => {
    const text = doc('agent.md');
    const table = text.slice(text.indexOf('| reason | phase |'), text.indexOf('"Failed" means'));
    const documented = table
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .flatMap((l) => words(l.split('|')[1]));
    expect([...new Set(documented)].sort()).toEqual([...INSTANCE_PROGRESS_REASONS, ...INSTANCE_FAILURE_REASONS].sort());
  });

  it('names the same failure with the same word on both sides where both meet it', () => {
    for (const code of ['PAR_UNSIGNED', 'PAR_NOT_YET_VALID', 'NOT_AN_ARCHIVE', 'PAR_EXPIRED', 'PAR_UNTRUSTED_ISSUER'] as const) {
      const r = reasonsByCode[code]!;
      expect([code, r.provider], `${code}`).toEqual([code, r.instance]);
    }
    expect(reasonsByCode.PAR_UNSIGNED).toMatchObject({ provider: 'Unsigned', instance: 'Unsigned' });
    expect(reasonsByCode.PAR_NOT_YET_VALID).toMatchObject({ provider: 'ClaimsNotYetValid', instance: 'ClaimsNotYetValid' });
    expect(reasonsByCode.NOT_AN_ARCHIVE).toMatchObject({ provider: 'InvalidArchive', instance: 'InvalidArchive' });
  });

  it('is what the controller and the agent both answer, reason and transience alike, for every code', () => {
    const codes = [...PAR_ERROR_CODES, ...HostErrorCodes, ...(Object.keys(reasonsByCode) as ErrorCode[])];
    for (const code of new Set<string>(codes)) {
      const r = reasonsForCode(code);
      const c = failureFromError(coded(code), 'registry.example/acme/x');
      const a = classify(coded(code), 'fetch');
      if (r?.provider) {
        expect([code, c.reason, c.transient]).toEqual([code, r.provider, r.transient]);
        expect(RESOLVE_FAILURE_REASONS).toContain(c.reason);
      }
      if (r?.instance) expect([code, a.reason, a.retryable]).toEqual([code, r.instance, r.transient]);
      expect(INSTANCE_FAILURE_REASONS).toContain(a.reason);
    }
    // no entry: the controller calls it the registry being unavailable, the agent a failed fetch, both worth retrying
    expect(failureFromError(new Error('socket hang up'), 'r/x')).toMatchObject({ reason: 'RegistryUnavailable', transient: true });
    expect(reasonsForCode('NO_SUCH_CODE')).toBeUndefined();
    expect(reasonsForCode('PAR_SOMETHING_NEW')).toMatchObject({ provider: 'InvalidArchive', instance: 'InvalidArchive', transient: false });
  });
});
