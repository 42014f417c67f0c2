/*
 * The C side of the Go SDK: the provider table the host reads, whose functions call the Go
 * functions provider.go exports. __capability_provider_create goes through Go too (gantryGoTable),
 * because an exported Go function waits for the Go runtime — and the main package's init, which
 * registers the provider — to finish starting; a plain C function could run before that.
 */
#include <stdlib.h>
#include "gantry_provider.h"
#include "_cgo_export.h"

static const char *capability_id(void *ctx) { (void)ctx; return gantryGoCapabilityID(); }
static const char *name(void *ctx) { (void)ctx; return gantryGoName(); }

static int32_t configure(void *ctx, const char *json, size_t len, gantry_buffer *error) {
  (void)ctx;
  return gantryGoConfigure((char *)json, len, error);
}

static int32_t configure_dispatch(void *ctx, gantry_dispatch_fn fn, void *host_ctx) {
  (void)ctx;
  return gantryGoConfigureDispatch(fn, host_ctx);
}

static int32_t handle_call(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len, gantry_buffer *reply) {
  (void)ctx;
  return gantryGoHandleCall((char *)actor, (char *)op, (uint8_t *)msg, len, (char *)"", (char *)"", reply);
}

/* The host calls this for every call (the extension is set below); handle_call only for hosts without it. */
static int32_t handle_call_traced(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len,
                                  const char *traceparent, const char *tracestate, gantry_buffer *reply) {
  (void)ctx;
  return gantryGoHandleCall((char *)actor, (char *)op, (uint8_t *)msg, len, (char *)traceparent, (char *)tracestate, reply);
}

/* Replies are malloc'd by C.CBytes. */
static void free_buffer(void *ctx, uint8_t *data, size_t len) { (void)ctx; (void)len; free(data); }

static void stop(void *ctx) { (void)ctx; gantryGoStop(); }

static int32_t health(void *ctx, gantry_buffer *message) { (void)ctx; return gantryGoHealth(message); }

static const gantry_provider table = {
  .abi_version = GANTRY_ABI_VERSION,
  .flags = GANTRY_FLAG_EXTENSIONS,
  .ctx = NULL,
  .capability_id = capability_id,
  .name = name,
  .configure = configure,
  .configure_dispatch = configure_dispatch,
  .handle_call = handle_call,
  .free_buffer = free_buffer,
  .stop = stop,
  .ext_size = GANTRY_EXT_SIZE,
  .health = health,
  .handle_call_traced = handle_call_traced,
};

const gantry_provider *__capability_provider_create(void) { return gantryGoRegistered() ? &table : NULL; }

int32_t gantry_go_dispatch(gantry_dispatch_fn fn, void *host_ctx, const char *actor, const char *op, const uint8_t *msg, size_t len) {
  return fn(host_ctx, actor, op, msg, len);
}
