/**
 * `gantry abi check`: every example provider conforms, and each way of breaking the ABI fails
 * the check that is about it — the faulty provider's misbehaviours, and small C libraries built
 * here that lack the create symbol, report another ABI version, accept malformed
 * configuration, succeed on unknown operations, or leave a thread running past stop.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAbiCheck, type AbiCheckReport } from '../../agent/host/abi-check.js';
import { packageRoot } from '../../runtime/paths.js';
import { buildProviders, providerLib } from '../host/helpers.js';

const root = packageRoot();
let dir: string;

/** A minimal provider; each -D turns one thing wrong. */
const FIXTURE = `
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gantry_provider.h"
#ifndef ABI
#define ABI GANTRY_ABI_VERSION
#endif
static const char *capability_id(void *c) { (void)c; return "test:fixture"; }
static const char *name(void *c) { (void)c; return "abi check fixture"; }
static int32_t fail_with(gantry_buffer *b, int32_t code, const char *m) {
  b->len = strlen(m); b->data = malloc(b->len); memcpy(b->data, m, b->len); return code;
}
static int32_t configure(void *c, const char *json, size_t len, gantry_buffer *err) {
  (void)c;
#ifdef CONFIGURE_ACCEPTS_ANYTHING
  (void)json; (void)len; (void)err; return GANTRY_OK;
#else
  if (len < 2 || json[0] != '{' || json[len - 1] != '}') return fail_with(err, GANTRY_ERR_CONFIG, "not a JSON object");
  return GANTRY_OK;
#endif
}
static int32_t configure_dispatch(void *c, gantry_dispatch_fn f, void *h) { (void)c; (void)f; (void)h; return GANTRY_OK; }
static int32_t handle_call(void *c, const char *actor, const char *op, const uint8_t *msg, size_t len, gantry_buffer *reply) {
  (void)c; (void)actor; (void)msg; (void)len;
  reply->data = NULL; reply->len = 0;
#ifdef NOT_THREAD_SAFE
  static int busy;
  if (strcmp(op, "Ping") == 0) {
    /* Stands for a data race: a call that overlaps another answers differently. */
    int was = __atomic_fetch_add(&busy, 1, __ATOMIC_SEQ_CST);
    usleep(2000);
    __atomic_fetch_sub(&busy, 1, __ATOMIC_SEQ_CST);
    return fail_with(reply, GANTRY_OK, was ? "pong?" : "pong");
  }
#else
  if (strcmp(op, "Ping") == 0) return fail_with(reply, GANTRY_OK, "pong");
#endif
#ifdef UNKNOWN_OP_SUCCEEDS
  return GANTRY_OK;
#else
  return fail_with(reply, GANTRY_ERR_UNKNOWN_OP, "no such operation");
#endif
}
static void free_buffer(void *c, uint8_t *d, size_t l) { (void)c; (void)l; free(d); }
#ifdef THREAD_OUTLIVES_STOP
static void *spin(void *a) { (void)a; for (;;) usleep(1000); return NULL; }
static void stop(void *c) { (void)c; pthread_t t; pthread_create(&t, NULL, spin, NULL); pthread_detach(t); }
#else
static void stop(void *c) { (void)c; }
#endif
static const gantry_provider table = {
  .abi_version = ABI, .capability_id = capability_id, .name = name, .configure = configure,
  .configure_dispatch = configure_dispatch, .handle_call = handle_call, .free_buffer = free_buffer, .stop = stop,
};
#ifndef NO_CREATE_SYMBOL
const gantry_provider *__capability_provider_create(void) { return &table; }
#else
const gantry_provider *create_provider(void) { return &table; }
#endif
`;

function fixture(name: string, defines: string[] = []): string {
  const out = join(dir, `${name}.so`);
  execFileSync('cc', [
    '-shared',
    '-fPIC',
    '-O1',
    '-pthread',
    `-I${join(root, 'providers')}`,
    ...defines.map((d) => `-D${d}`),
    '-o',
    out,
    join(dir, 'fixture.c'),
  ]);
  return out;
}

function check(r: AbiCheckReport, name: string) {
  const c = r.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no check ${name}`);
  return c;
}

/** The checks that failed, by name. */
const failed = (r: AbiCheckReport) => r.checks.filter((c) => c.status === 'fail').map((c) => c.name);

beforeAll(() => {
  buildProviders();
  dir = mkdtempSync(join(tmpdir(), 'gantry-abi-'));
  writeFileSync(join(dir, 'fixture.c'), FIXTURE);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('every example provider conforms', () => {
  const examples: [string, string, string[]][] = [
    ['echo', 'gantry:echo', ['--config', '{"prefix":"> "}', '--op', 'Echo=hello']],
    [
      'keyvalue',
      'wascap:keyvalue',
      ['--op', 'Set={"key":"a","value":1}', '--op', 'Get={"key":"a"}', '--op', 'Incr={"key":"n"}', '--op', 'Keys'],
    ],
    ['messaging', 'wascap:messaging', ['--op', 'Stats']],
    ['faulty', 'gantry:faulty', ['--op', 'Ok']],
    [
      'keyvalue-rs',
      'wascap:keyvalue',
      ['--op', 'Set={"key":"a","value":1}', '--op', 'Get={"key":"a"}', '--op', 'Incr={"key":"n"}', '--op', 'Keys'],
    ],
    ['echo-go', 'gantry:echo', ['--config', '{"prefix":"> "}', '--op', 'Echo=hello']],
    ['panicky-rs', 'gantry:panicky', ['--op', 'Count']],
    ['panicky-go', 'gantry:panicky', ['--op', 'Count']],
  ];
  it.each(examples)('%s passes every check (gantry abi check exits 0)', (name, capid, args) => {
    const r = spawnSync(
      process.execPath,
      [join(root, 'bin', 'gantry.js'), 'abi', 'check', providerLib(name), '--capid', capid, ...args, '--json'],
      { encoding: 'utf8' },
    );
    const report = JSON.parse(r.stdout) as AbiCheckReport;
    expect(failed(report)).toEqual([]);
    expect(report.checks.every((c) => c.status === 'pass')).toBe(true);
    expect(report.ok).toBe(true);
    expect(r.status).toBe(0);
  });
});

describe("the faulty provider's misbehaviours fail the check that exercises them", () => {
  it('a crash in an operation fails `calls` with the signal; gantry abi check prints it and exits 1', () => {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'gantry.js'), 'abi', 'check', providerLib('faulty'), '--op', 'Segfault'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL\s+calls\s+the provider crashed the host process \(SIGSEGV\)/m);
    expect(r.stdout).toMatch(/^SKIP\s+stop-unload\s+not run: calls failed/m);
    expect(r.stdout).toMatch(/does NOT conform: calls failed/);
  });

  it('abort fails `calls` with SIGABRT', async () => {
    const r = await runAbiCheck({ library: providerLib('faulty'), ops: [{ op: 'Abort', payload: '' }] });
    expect(failed(r)).toEqual(['calls']);
    expect(check(r, 'calls').detail).toMatch(/SIGABRT/);
  });

  it('a hanging operation fails `calls` after the check timeout', async () => {
    const r = await runAbiCheck({ library: providerLib('faulty'), ops: [{ op: 'Hang', payload: '' }], checkTimeoutMs: 1500 });
    expect(failed(r)).toEqual(['calls']);
    expect(check(r, 'calls').detail).toMatch(/did not finish within 1500 ms/);
  });

  it('an operation that leaks fails `free-buffer`', async () => {
    const r = await runAbiCheck({ library: providerLib('faulty'), ops: [{ op: 'Leak', payload: '{"bytes":262144}' }] });
    expect(failed(r)).toEqual(['free-buffer']);
    expect(check(r, 'free-buffer').detail).toMatch(/C heap grew \+3\d\.\d MiB/);
  });

  it('an operation that fails fails `calls` with its code and message', async () => {
    const r = await runAbiCheck({ library: providerLib('faulty'), ops: [{ op: 'Error', payload: '' }] });
    expect(failed(r)).toEqual(['calls']);
    expect(check(r, 'calls').detail).toBe('Error failed with code 1: faulty: failing as asked');
  });

  it("a Rust SDK provider's panic fails `calls` as a provider error, not a crash", async () => {
    const r = await runAbiCheck({ library: providerLib('panicky-rs'), ops: [{ op: 'Panic', payload: '' }] });
    expect(failed(r)).toEqual(['calls']);
    expect(check(r, 'calls').detail).toMatch(/^Panic failed with code 1: provider panicked in Panic: asked to panic/);
  });

  it('another capability id fails `capability-id`', async () => {
    const r = await runAbiCheck({ library: providerLib('faulty'), capid: 'wascap:keyvalue' });
    expect(failed(r)).toEqual(['capability-id']);
    expect(check(r, 'capability-id').detail).toBe('capability_id() is "gantry:faulty", expected "wascap:keyvalue"');
  });
});

describe('libraries that break the ABI', () => {
  it('the fixture itself conforms (so each failure below is caused by its one defect)', async () => {
    const r = await runAbiCheck({ library: fixture('good'), capid: 'test:fixture', ops: [{ op: 'Ping', payload: '' }] });
    expect(failed(r)).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('no __capability_provider_create: `create-symbol` fails and nothing after it runs', async () => {
    const r = await runAbiCheck({ library: fixture('nocreate', ['NO_CREATE_SYMBOL']) });
    expect(failed(r)).toEqual(['create-symbol']);
    expect(check(r, 'load').status).toBe('pass');
    expect(check(r, 'create-symbol').detail).toMatch(/does not export __capability_provider_create/);
    expect(r.checks.slice(2).every((c) => c.status === 'skip' && c.detail === 'not run: create-symbol failed')).toBe(true);
    expect(r.ok).toBe(false);
  });

  it('another ABI version: `abi-version` fails, and the table is never read', async () => {
    const r = await runAbiCheck({ library: fixture('abi2', ['ABI=2u']) });
    expect(failed(r)).toEqual(['abi-version']);
    expect(check(r, 'abi-version').detail).toMatch(/the table says ABI v2; this host speaks v1/);
    expect(check(r, 'table').status).toBe('skip');
  });

  it('a file that is not a shared library fails `load`', async () => {
    const junk = join(dir, 'junk.so');
    writeFileSync(junk, 'not an ELF file');
    const r = await runAbiCheck({ library: junk });
    expect(failed(r)).toEqual(['load']);
  });

  it('configure that accepts malformed JSON fails `configure-bad`', async () => {
    const r = await runAbiCheck({ library: fixture('lenient', ['CONFIGURE_ACCEPTS_ANYTHING']) });
    expect(failed(r)).toEqual(['configure-bad']);
    expect(check(r, 'configure-bad').detail).toMatch(/accepted malformed JSON/);
  });

  it('an unknown operation that succeeds fails `unknown-op`', async () => {
    const r = await runAbiCheck({ library: fixture('yes', ['UNKNOWN_OP_SUCCEEDS']) });
    expect(failed(r)).toEqual(['unknown-op']);
    expect(check(r, 'unknown-op').detail).toMatch(/must fail with GANTRY_ERR_UNKNOWN_OP \(3\)/);
  });

  it('calls that answer differently when they overlap fail `concurrent-calls` (so calls really run at once)', async () => {
    const r = await runAbiCheck({ library: fixture('racy', ['NOT_THREAD_SAFE']), ops: [{ op: 'Ping', payload: '' }] });
    expect(failed(r)).toEqual(['concurrent-calls']);
    expect(check(r, 'calls').detail).toBe('Ping → 4 bytes; repeatable: Ping');
    expect(check(r, 'concurrent-calls').detail).toBe(
      'Ping answered "pong?" when called concurrently, "pong" alone: handle_call is not thread-safe',
    );
  });

  it('a thread left running after stop crashes once the library is unloaded: `stop-unload` fails', async () => {
    const r = await runAbiCheck({ library: fixture('thread', ['THREAD_OUTLIVES_STOP']) });
    expect(failed(r)).toEqual(['stop-unload']);
    expect(check(r, 'stop-unload').detail).toMatch(/SIGSEGV/);
  });
});
