/**
 * The log entry of a published archive revision: its revision and manifest digest, and the
 * claims summary the registry side made from the verified claims (registry/summary.ts). Every
 * writer of a log (`gantry par push --log-key`, mirrors, benchmarks) builds entries here, so an
 * entry always carries the same fields the same way.
 */
import type { PublishedArchive } from '../../registry/index.js';
import type { LogEntry } from '../entry.js';

export function logEntryOf(published: Pick<PublishedArchive, 'revision' | 'digest' | 'summary'>): LogEntry {
  const { revision, digest, summary } = published;
  return {
    revision,
    digest,
    issuer: summary.issuer,
    subject: summary.subject,
    capid: summary.capid ?? '',
    version: summary.version ?? '',
  };
}
