// Mutation testing of the safety-critical modules (docs/testing.md): `npm run mutate`, or one
// module at a time with `npm run mutate -- --mutate runtime/toolkit/leader.ts`.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner', './stryker/ignore-logging.mjs'],
  ignorers: ['logging'],
  vitest: { configFile: 'vitest.mutate.config.ts', related: true },
  // 'all', not 'perTest': the elector, the informers and the hosts run in timers and child
  // processes, which per-test coverage attributes to whichever test happens to be current (a
  // leader.ts mutant was reported as covered only by other files' tests and "survived")
  coverageAnalysis: 'all',
  // Stryker rewrites tsconfig.json in its sandbox with the TypeScript JS API, which TypeScript 7
  // (the native compiler) no longer has; the sandbox needs no rewrite (no "extends", no
  // project references), so point it at no file. For the same reason there is no
  // @stryker-mutator/typescript-checker: it needs that API too.
  tsconfigFile: 'stryker-has-no-tsconfig.json',
  // most critical first: CI's gate (scripts/mutate-changed.mjs) takes changed files in this
  // order when a submission changes more than its budget allows
  mutate: [
    // node-made host identities: which keys the controller signs, which JWTs the agent uses
    'controller/credentials/host-key-policy.ts',
    'agent/host-jwt-check.ts',
    'runtime/toolkit/leader.ts',
    // tracing: whether a process sends spans, where, and sampled how (OTEL_*; issue 33)
    'runtime/tracing/config.ts',
    'controller/providers/instance-index.ts',
    'controller/providers/failed-nodes.ts',
    'controller/providers/scheduling/filters.ts',
    // topology spread: which node DoNotSchedule turns away, and why (issue 31)
    'controller/providers/scheduling/spread.ts',
    // the agent's instance cap: which instances run, which wait
    'agent/admission.ts',
    // per-host memory cgroups: which directory serves, which limits are written, what counts as an OOM kill
    'agent/host/memory-cgroup.ts',
    'controller/providers/rollout.ts',
    'controller/providers/heal.ts',
    // configFrom: which keys are secret (names only on the instance, values only to the sealed writer)
    'controller/providers/config-refs.ts',
    'api/trust.ts',
    // trust changed at run time: what a gantry-trust update may change, and what a narrowing stops (issue 35)
    'api/trust-policy.ts',
    'api/trust-watch.ts',
    'agent/trust-follow.ts',
    // archive verification: the walks, the claims' checks, the binaries' checks, the whole
    'par/scan.ts',
    'par/verify-claims.ts',
    'par/verify-binaries.ts',
    'par/verify.ts',
    // only getManifest (what it asks for, and its digest check): the rest of the client is
    // transport plumbing
    'registry/distribution/get-manifest.ts',
    // every registry request's deadline and minimum rate (a trickling registry)
    'registry/distribution/transfer-guard.ts',
    // what a push gives foreign tools: layer titles that are plain file names (never a path), no zip under wasmCloud's types (issue 36)
    'registry/foreign-tools.ts',
    // what a registry's archive summary may be trusted for: only what its claims JWT signs (issue 36)
    'registry/summary.ts',
    'agent/archive-pipeline.ts',
    // which library descriptor a host loads without hashing it: only memory sealed against write, grow and shrink
    'agent/host/memfd-seal.ts',
    // the host keeper: a host is adopted only for the same uid and spec digest, one agent at a time, other protocol versions refused (issue 35)
    'agent/keeper/server.ts',
    'agent/keeper/wire.ts',
    // the handover: how long a node's agent counts as live after it left its hosts to the keeper, bounded (issue 35)
    'controller/providers/scheduling/nodes.ts',
    'agent/host-records.ts',
    'agent/registry-access.ts',
    'membrane/permissions.ts',
    // gantry install: which states of the keys and the bus TLS are kept, made, or refused before any write
    'cli/install-plan.ts',
    // activation: what a request on an activation subject may name (target, caller, deadline) before anything is woken (issue 32)
    'controller/activation/request.ts',
    // the external metrics API: only the aggregator's client certificate gets in, X-Remote-User only then (issue 32)
    'controller/metrics-api/auth.ts',
    'controller/metrics-api/request-header.ts',
    'controller/metrics-api/routes.ts',
    'controller/metrics-api/values.ts',
    // the bus's TLS: the server certificate's names and the nats-server tls blocks (issue 28)
    'membrane/bus-tls.ts',
    // a pull credential opens only on the node it was sealed to (issue 28)
    'registry/sealed-credential.ts',
    // the node's seal key: made 0600 on the node, a seed others may read refused (issue 28)
    'agent/seal-key.ts',
    // secret config values: opened only on their node, only for their uid, only with exactly the named keys (issue 31)
    'agent/secret-config.ts',
    'agent/host/redact.ts',
    // who holds a NATS key (no grant revokes a host's or another namespace's) and grant JWT lifetimes
    'controller/grants/key-claims.ts',
    'controller/grants/jwt-lifetime.ts',
    // the emulator's CEL transition rules (spec.grantee immutable holds on it as on the real server)
    'apiserver/cel.ts',
    // autoscaling (issue 32): a load report counts only for its subject's instance; the store
    // drops out-of-order and restarted series; the decision is bounded by maxReplicas (all a
    // fallen node's misreports can reach)
    'controller/autoscale/reports.ts',
    'controller/autoscale/load-store.ts',
    'controller/autoscale/decide.ts',
    // the revocation list's bound: what may be pruned, the revoke-all cut-off, the JWT lifetime
    'membrane/revocations.ts',
    // the host answers only into its caller's inbox (no reflected replies)
    'agent/host/reply-guard.ts',
    // which fields of a provider table the host reads (ABI extensions): unknown flags and bad sizes refused
    'agent/host/abi-extensions.ts',
    // a host's call counts: shape and range checked, labels capped, counters never backwards
    'agent/call-snapshot.ts',
    'agent/call-metrics.ts',
    'tlog/merkle.ts',
    'tlog/note.ts',
    'tlog/checkpoint.ts',
    'tlog/entry.ts',
    // which trusted log key may sign for which origin
    'tlog/origin-keys.ts',
    // C2SP tiles (issue 34): tile paths and bundles parsed strictly, every hash read from a tile
    // authenticated against the signed root, the tiles a growth writes (cache.ts holds no check)
    'tlog/tiles/path.ts',
    'tlog/tiles/bundle.ts',
    'tlog/tiles/shape.ts',
    'tlog/tiles/tree.ts',
    'tlog/tiles/grow.ts',
    // the stored log's checks (reading entries and checkpoints, rollback, fork, tag and archive
    // mismatches, who may extend a log). The appends' timing rule (tlog/log/append.ts) is proved
    // against a real registry in registry-log.test.ts, outside the mutation run; layout.ts
    // (tag names, constants) and store.ts (writes without checks) hold no checks
    'tlog/log/artifact.ts',
    'tlog/log/read.ts',
    'tlog/log/checkpointing.ts',
    // tiles in the repository and the tiled reader (issue 34): what is a tile, which checkpoint is the latest, a lying revision pointer
    'tlog/log/tiles-store.ts',
    'tlog/log/tiled.ts',
    'tlog/log/verify.ts',
    // the sequencer (issue 34): what a request may say and the status each refusal gets, and the
    // lease that makes it the one writer (parsed strictly, taken only when free, checked, released by its holder)
    'tlog/sequencer/requests.ts',
    'tlog/sequencer/lease.ts',
    // the full check split by layout (issue 34): the shared entry checks, and a tiled log's bundles, entry tags, pointers and checkpoint tags
    'tlog/log/verify-checks.ts',
    'tlog/log/verify-tiles.ts',
    // the controller as the log's witness: what a resolved revision must show before it runs
    'controller/providers/archive/log-witness.ts',
    // a Provider's rollout history (issue 31): which revisions are its own (by uid), what undo
    // writes back and removes, what is pruned (never the current template), and the
    // ControllerRevision checks the emulator makes as the real server does
    'controller/history/plan.ts',
    'api/history.ts',
    'apiserver/controllerrevisions.ts',
    // the dashboard's HTTP guards: which Host passes (DNS rebinding), which methods, which headers (issue 33)
    'dashboard/guards.ts',
    // the dashboard's Prometheus parser: what a label value is, which lines are samples
    'dashboard/prometheus.ts',
  ],
  // two cores shared with other work
  concurrency: 2,
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  // scripts/mutate-changed.mjs reads its own run's report from where it says
  jsonReporter: { fileName: process.env.STRYKER_JSON_REPORT || 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
  timeoutMS: 10_000,
};
