/**
 * The log sequencer (`gantry log serve`, docs/transparency.md "The sequencer"): one writer per
 * repository that appends without Fischer's wait while it holds the repository's lease
 * (lease.ts), over a small HTTP API (requests.ts, server.ts, service.ts); client.ts asks it.
 */
export { heldLease, readLease, refuseIfSequenced, takeLease, releaseLease, checkLease, type Lease } from './lease.js';
export { Sequencer, type ServedLog, type AppendReply, type ConsistentReply } from './service.js';
export { listenSequencer, type SequencerServer } from './server.js';
export { requestAppend, requestConsistent, SequencerRefusedError } from './client.js';
export { MAX_REQUEST_BYTES, type AppendRequest, type ConsistentRequest } from './requests.js';
