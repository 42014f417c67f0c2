/**
 * One load report from the bus into the LoadStore (client/load.ts): the subject says whose it is,
 * and a report is believed only about the instance its subject names. Under the membrane a host
 * may publish only on its own instance's subject, so this keeps a fallen node to misreporting its
 * own instances; a report that is not one (client/load.ts parseLoadReport) is dropped.
 */
import { parseLoadReport } from '../../client/load.js';
import { subjectTokenDecode } from '../../client/protocol.js';
import type { LoadStore, RecordResult } from './load-store.js';

export type ReportResult = RecordResult | 'malformed' | 'foreign-instance';

/** What became of the report `data` received on `subject` at `receivedAtMs`. */
export function takeReport(subject: string, data: Uint8Array, store: LoadStore, receivedAtMs: number): ReportResult {
  const t = subject.split('.');
  if (t.length !== 5 || t[0] !== 'gantry' || t[2] !== 'load') return 'malformed';
  let namespace: string;
  let provider: string;
  let instance: string;
  try {
    // the subscription guarantees the shape, not the escapes (without the membrane anyone publishes)
    [namespace, provider, instance] = [t[1], t[3], t[4]].map(subjectTokenDecode);
  } catch {
    return 'malformed';
  }
  const r = parseLoadReport(data);
  if (typeof r === 'string') return 'malformed';
  if (r.instance !== instance) return 'foreign-instance';
  return store.record(namespace, provider, r, receivedAtMs);
}
