/**
 * A provider table written out by hand in C and compiled by cc, so a test controls exactly the
 * flags, ext_size and health answer a library announces (the example providers are built by
 * the header's macros, which never get these wrong on purpose).
 *
 *   const lib = compileTable(dir, 'small', { flags: 1, extSize: 4 });
 *
 * Without `extSize` the table ends at `stop` (the header before extensions). The table always
 * carries handle_call_traced after health (NULL unless `traced`) and three fields past it,
 * which a host must ignore; `health` answers unhealthy ("sick", or no message with
 * `silentHealth`; healthy with `healthy`); `handle_call` returns `callStatus` with an empty reply, handle_call_traced
 * `callStatus` with "traced <traceparent>|<tracestate>" — so a test sees which one ran.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = `
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
typedef struct { uint8_t *data; size_t len; } buf;
static const char *capid(void *c) { (void)c; return "test:ext"; }
static const char *name(void *c) { (void)c; return "ext fixture"; }
static int32_t cd(void *c, void *f, void *h) { (void)c; (void)f; (void)h; return 0; }
static int32_t call(void *c, const char *a, const char *o, const uint8_t *m, size_t l, buf *r) {
  (void)c; (void)a; (void)o; (void)m; (void)l; r->data = NULL; r->len = 0; return CALL_STATUS;
}
static int32_t traced(void *c, const char *a, const char *o, const uint8_t *m, size_t l, const char *tp, const char *ts, buf *r) {
  (void)c; (void)a; (void)o; (void)m; (void)l;
  int32_t status = tp[0] ? TRACED_STATUS : CALL_STATUS;
  size_t n = 7 + strlen(tp) + 1 + strlen(ts);
  r->data = malloc(n + 1); r->len = n;
  memcpy(r->data, "traced ", 7); strcpy((char *)r->data + 7, tp); strcat((char *)r->data, "|"); strcat((char *)r->data, ts);
  return status;
}
#ifdef TRACED
#define TRACED_FN (void *)traced
#else
#define TRACED_FN NULL
#endif
static void fr(void *c, uint8_t *d, size_t l) { (void)c; (void)l; free(d); }
static void stop(void *c) { (void)c; }
static int32_t health(void *c, buf *m) {
  (void)c;
#ifdef SILENT_HEALTH
  m->data = NULL; m->len = 0;
#else
  m->len = 4; m->data = malloc(4); memcpy(m->data, "sick", 4);
#endif
  return HEALTH_STATUS;
}
struct table {
  uint32_t abi_version, flags; void *ctx;
  void *capability_id, *name, *configure, *configure_dispatch, *handle_call, *free_buffer, *stop;
#ifdef EXT_SIZE
  size_t ext_size; void *health; void *handle_call_traced; void *future[3];
#endif
};
static const struct table t = {
  1, FLAGS, NULL, (void *)capid, (void *)name, NULL, (void *)cd, (void *)call, (void *)fr, (void *)stop,
#ifdef EXT_SIZE
  EXT_SIZE, (void *)health, TRACED_FN, { (void *)stop, (void *)stop, (void *)stop },
#endif
};
const void *__capability_provider_create(void) { return &t; }
`;

export interface TableOptions {
  flags: number | string;
  extSize?: number | string;
  silentHealth?: boolean;
  callStatus?: number;
  /** health answers GANTRY_OK (else 1, "sick"). */
  healthy?: boolean;
  /** handle_call_traced is set (else NULL). */
  traced?: boolean;
  /** What handle_call_traced returns for a traced call (traceparent not ""); default callStatus. */
  tracedStatus?: number;
}

/** Compiles the table into `dir`/`name`.so and returns its path. */
export function compileTable(dir: string, name: string, o: TableOptions): string {
  const src = join(dir, 'table-fixture.c');
  writeFileSync(src, SOURCE);
  const out = join(dir, `${name}.so`);
  const defines = [
    `-DFLAGS=${o.flags}`,
    `-DCALL_STATUS=${o.callStatus ?? 0}`,
    `-DTRACED_STATUS=${o.tracedStatus ?? o.callStatus ?? 0}`,
    `-DHEALTH_STATUS=${o.healthy ? 0 : 1}`,
    ...(o.extSize === undefined ? [] : [`-DEXT_SIZE=${o.extSize}`]),
    ...(o.silentHealth ? ['-DSILENT_HEALTH'] : []),
    ...(o.traced ? ['-DTRACED'] : []),
  ];
  execFileSync('cc', ['-shared', '-fPIC', '-O1', '-Wall', '-Wno-unused-function', ...defines, '-o', out, src]);
  return out;
}
