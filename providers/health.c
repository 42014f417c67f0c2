/*
 * health — an echo provider whose health a test (or an operator) controls from outside, so
 * tests can prove readiness and liveness (capid gantry:health). It uses the health extension
 * (GANTRY_FLAG_EXTENSIONS, docs/abi.md#extensions).
 *
 * configure: {"health_file": "/path"} (optional). Each health call reads that file:
 *   absent or empty  → healthy
 *   "hang"           → the health call blocks until the file says something else
 *   anything else    → unhealthy, the file's first line is the message
 * Operations: Echo → the payload back.
 */
#include <pthread.h>
#include <unistd.h>

#include "provider_util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *health_file; /* set once by configure, before any health call */

static const char *capability_id(void *ctx) { (void)ctx; return "gantry:health"; }
static const char *name(void *ctx) { (void)ctx; return "Gantry example provider with a health check"; }

static int32_t configure(void *ctx, const char *json, size_t len, gantry_buffer *error) {
  (void)ctx;
  const char *v;
  size_t vl;
  int found = pu_json_member(json, len, "health_file", &v, &vl);
  if (found < 0) return pu_fail(error, GANTRY_ERR_CONFIG, "configuration is not a JSON object");
  if (found == 0) return GANTRY_OK;
  char *path = pu_json_string(v, vl, NULL);
  if (!path) return pu_fail(error, GANTRY_ERR_CONFIG, "\"health_file\" must be a string");
  pthread_mutex_lock(&lock);
  free(health_file);
  health_file = path;
  pthread_mutex_unlock(&lock);
  return GANTRY_OK;
}

static int32_t configure_dispatch(void *ctx, gantry_dispatch_fn fn, void *host_ctx) {
  (void)ctx; (void)fn; (void)host_ctx;
  return GANTRY_OK;
}

static int32_t handle_call(void *ctx, const char *actor, const char *op, const uint8_t *msg, size_t len, gantry_buffer *reply) {
  (void)ctx; (void)actor;
  reply->data = NULL;
  reply->len = 0;
  if (strcmp(op, "Echo") == 0) return pu_reply(reply, msg, len);
  return pu_fail(reply, GANTRY_ERR_UNKNOWN_OP, "health has no operation \"%s\" (Echo)", op);
}

/* The first line of the health file, or "" when there is none. */
static void read_state(char *out, size_t cap) {
  out[0] = 0;
  pthread_mutex_lock(&lock);
  FILE *f = health_file ? fopen(health_file, "r") : NULL;
  pthread_mutex_unlock(&lock);
  if (!f) return;
  if (!fgets(out, (int)cap, f)) out[0] = 0;
  fclose(f);
  out[strcspn(out, "\r\n")] = 0;
}

static int32_t health(void *ctx, gantry_buffer *message) {
  (void)ctx;
  char state[256];
  for (read_state(state, sizeof state); strcmp(state, "hang") == 0; read_state(state, sizeof state)) usleep(20 * 1000);
  message->data = NULL;
  message->len = 0;
  if (state[0] == 0) return GANTRY_OK;
  return pu_fail(message, GANTRY_ERR_PROVIDER, "%s", state);
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
  .health = health,
};

const gantry_provider *__capability_provider_create(void) { return &provider; }
