/*
 * echo — returns its payload (capid gantry:echo). Shows `configure`: an optional
 * {"prefix":"…"} is prepended to every reply; any other configuration is refused.
 * `Whoami` returns the calling actor as the host handed it (the verified caller's key).
 * Implements the handle_call_traced extension (so the host calls it for every call):
 * `TraceContext` answers {"traceparent":…,"tracestate":…} with the W3C trace context the host
 * handed it ("" for both when the call is not traced, or from a host without the extension).
 */
#include <pthread.h>

#include "provider_util.h"

static char *prefix = NULL; /* set once by configure, before any handle_call */
static size_t prefix_len = 0;

static const char *capability_id(void *ctx) { (void)ctx; return "gantry:echo"; }
static const char *name(void *ctx) { (void)ctx; return "Gantry example echo"; }

static int32_t configure(void *ctx, const char *json, size_t len, gantry_buffer *error) {
  (void)ctx;
  const char *v;
  size_t vl;
  int found = pu_json_member(json, len, "prefix", &v, &vl);
  if (found < 0) return pu_fail(error, GANTRY_ERR_CONFIG, "echo: configuration must be a JSON object");
  if (found == 0) return GANTRY_OK;
  char *p = pu_json_string(v, vl, &prefix_len);
  if (!p) return pu_fail(error, GANTRY_ERR_CONFIG, "echo: \"prefix\" must be a string");
  free(prefix);
  prefix = p;
  return GANTRY_OK;
}

static int32_t configure_dispatch(void *ctx, gantry_dispatch_fn fn, void *host_ctx) {
  (void)ctx; (void)fn; (void)host_ctx;
  return GANTRY_OK;
}

static int32_t handle_call_traced(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len,
                                  const char *traceparent, const char *tracestate, gantry_buffer *reply) {
  (void)ctx;
  reply->data = NULL;
  reply->len = 0;
  if (strcmp(op, "TraceContext") == 0) {
    pu_str s = {0};
    pu_str_cstr(&s, "{\"traceparent\":");
    pu_str_json(&s, traceparent, strlen(traceparent));
    pu_str_cstr(&s, ",\"tracestate\":");
    pu_str_json(&s, tracestate, strlen(tracestate));
    pu_str_cstr(&s, "}");
    return pu_str_reply(&s, reply);
  }
  if (strcmp(op, "Whoami") == 0) {
    size_t al = strlen(actor);
    if (al == 0) return GANTRY_OK;
    reply->data = malloc(al);
    if (!reply->data) return pu_fail(reply, GANTRY_ERR_PROVIDER, "out of memory");
    memcpy(reply->data, actor, al);
    reply->len = al;
    return GANTRY_OK;
  }
  if (strcmp(op, "Echo") != 0) return pu_fail(reply, GANTRY_ERR_UNKNOWN_OP, "echo has no operation \"%s\" (Echo)", op);
  size_t n = prefix_len + len;
  if (n == 0) return GANTRY_OK;
  reply->data = malloc(n);
  if (!reply->data) return pu_fail(reply, GANTRY_ERR_PROVIDER, "out of memory");
  if (prefix_len) memcpy(reply->data, prefix, prefix_len);
  if (len) memcpy(reply->data + prefix_len, msg, len);
  reply->len = n;
  return GANTRY_OK;
}

/* Only a host without the extension calls this: the call is served with no trace context. */
static int32_t handle_call(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len, gantry_buffer *reply) {
  return handle_call_traced(ctx, actor, op, msg, len, "", "", reply);
}

static void stop(void *ctx) { (void)ctx; }

static const gantry_provider provider = {
  .abi_version = GANTRY_ABI_VERSION,
  .flags = GANTRY_FLAG_EXTENSIONS,
  .capability_id = capability_id,
  .name = name,
  .configure = configure,
  .configure_dispatch = configure_dispatch,
  .handle_call = handle_call,
  .free_buffer = pu_free_buffer,
  .stop = stop,
  .ext_size = GANTRY_EXT_SIZE,
  .handle_call_traced = handle_call_traced,
};

const gantry_provider *__capability_provider_create(void) { return &provider; }
