/*
 * Gantry native capability provider ABI, version 1 (see docs/abi.md).
 *
 * A provider is a shared library exporting one symbol:
 *
 *     const gantry_provider *__capability_provider_create(void);
 *
 * It returns a pointer to a table (valid until the process exits) that starts with the ABI
 * version the library was built against, followed by an opaque context pointer and function
 * pointers. The host passes `ctx` back as the first argument of every function. This is the C
 * form of the waSCC capability provider interface: capability_id, name, configure_dispatch,
 * handle_call, stop — plus configure (JSON) and free_buffer, which a C ABI needs.
 *
 * Threading: the host calls handle_call concurrently from several threads; a provider must
 * make it thread-safe. capability_id, name, configure and configure_dispatch are called once,
 * before any handle_call; stop is called once, after the last handle_call has been issued
 * (calls that ran past their timeout may still be running: stop must not free what they use
 * unless it waits for them).
 *
 * Memory: buffers a provider hands out (reply bodies and error messages in gantry_buffer) are
 * allocated by the provider and released by the host with free_buffer. Arguments the host
 * passes in are valid only for the duration of the call: copy what you keep.
 *
 * Errors: functions return GANTRY_OK (0) or one of the GANTRY_ERR_* codes; on error the
 * reply/error buffer may carry a UTF-8 message for people (not NUL-terminated; use len).
 *
 * Extensions (the one way ABI v1 grows, docs/abi.md#extensions): a table whose flags has
 * GANTRY_FLAG_EXTENSIONS continues after `stop` with `ext_size` — the number of bytes from
 * ext_size (included) to the end of the table as the library was built — and then optional
 * function pointers. The host reads an extension field only when it lies wholly within
 * ext_size (fields the library's header did not have are "not implemented"), ignores trailing
 * fields it does not know, and treats a NULL pointer as "not implemented". New fields are only
 * ever appended. A table with flags 0 ends at `stop` and loads exactly as before. A host
 * refuses flag bits it does not know (they could change how the table is read) and an
 * ext_size smaller than the size field itself, not a multiple of the pointer size, or over
 * GANTRY_EXT_SIZE_MAX. Build with:
 *
 *     .flags = GANTRY_FLAG_EXTENSIONS, .ext_size = GANTRY_EXT_SIZE, .health = my_health,
 *
 * The extension fields, in order: health (liveness and readiness), handle_call_traced (calls
 * with their trace context).
 */
#ifndef GANTRY_PROVIDER_H
#define GANTRY_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. A host refuses a table whose abi_version differs. */
#define GANTRY_ABI_VERSION 1u

/* flags: the table continues with ext_size and extension fields (see above). */
#define GANTRY_FLAG_EXTENSIONS 0x1u
/* Every flag bit this header defines; a host refuses a table with any other bit set. */
#define GANTRY_KNOWN_FLAGS GANTRY_FLAG_EXTENSIONS
/* Largest ext_size a host accepts: more is taken as a garbage table, not a newer one. */
#define GANTRY_EXT_SIZE_MAX 4096u

/* The symbol a provider library exports. */
#define GANTRY_PROVIDER_CREATE_SYMBOL "__capability_provider_create"

/* Return codes. Values are stable: never renumber, only add. */
#define GANTRY_OK 0
#define GANTRY_ERR_PROVIDER 1     /* the operation failed; message in the buffer */
#define GANTRY_ERR_BAD_REQUEST 2  /* the payload could not be understood */
#define GANTRY_ERR_UNKNOWN_OP 3   /* the provider has no such operation */
#define GANTRY_ERR_UNAUTHORIZED 4 /* the calling actor is not allowed to do this */
#define GANTRY_ERR_OVERLOADED 5   /* try again later (also returned by the host's dispatcher) */
#define GANTRY_ERR_CONFIG 6       /* configure: the configuration is invalid */
#define GANTRY_ERR_NOT_READY 7    /* the host is stopping (dispatcher) */
#define GANTRY_ERR_NO_ACTOR 8     /* dispatcher: the actor's last delivery found no responders (it is gone) */

/* A byte buffer handed from provider to host. The host frees `data` with free_buffer. */
typedef struct gantry_buffer {
  uint8_t *data;
  size_t len;
} gantry_buffer;

/*
 * The host's dispatcher: a provider → actor call, e.g. a message arriving for a subscriber.
 * May be called from any thread, including the provider's own threads, from the moment
 * configure_dispatch returns until stop returns. The host copies every argument before it
 * returns. Delivery is asynchronous: GANTRY_OK means "accepted for delivery to the actor",
 * GANTRY_ERR_OVERLOADED means too many dispatches are pending (the actor side is slow),
 * GANTRY_ERR_NO_ACTOR that a recent delivery to this actor found nobody subscribed (refused
 * for a short while, then tried again), GANTRY_ERR_NOT_READY that the host is stopping.
 * Refused messages are not delivered. The actor's reply, if any, is not returned.
 */
typedef int32_t (*gantry_dispatch_fn)(void *host_ctx, const char *actor, const char *op,
                                      const uint8_t *msg, size_t len);

typedef struct gantry_provider {
  uint32_t abi_version; /* = GANTRY_ABI_VERSION */
  uint32_t flags;       /* 0, or GANTRY_FLAG_EXTENSIONS (unknown bits are refused) */
  void *ctx;            /* provider state, passed back to every function */

  /* The capability id this provider implements, e.g. "wascap:keyvalue" (static string). */
  const char *(*capability_id)(void *ctx);
  /* A human-readable name (static string). */
  const char *(*name)(void *ctx);
  /* Optional (may be NULL): the instance's configuration as a JSON object (UTF-8, len bytes,
   * "{}" when none). On failure return GANTRY_ERR_CONFIG with a message in *error. */
  int32_t (*configure)(void *ctx, const char *config_json, size_t len, gantry_buffer *error);
  /* Hands the provider the host's dispatcher; keep both pointers for provider → actor calls. */
  int32_t (*configure_dispatch)(void *ctx, gantry_dispatch_fn dispatch, void *host_ctx);
  /* Serve one call. actor may be "" (anonymous caller). On GANTRY_OK, *reply holds the reply
   * body (data may be NULL when len is 0); otherwise *reply may hold an error message. */
  int32_t (*handle_call)(void *ctx, const char *actor, const char *op, const uint8_t *msg,
                         size_t len, gantry_buffer *reply);
  /* Release a buffer this provider returned in a gantry_buffer. */
  void (*free_buffer)(void *ctx, uint8_t *data, size_t len);
  /* Stop background work (threads, timers). No dispatch may happen after stop returns. */
  void (*stop)(void *ctx);

  /* ---- Extensions: read only when flags has GANTRY_FLAG_EXTENSIONS. -------------------- */
  /* Bytes from here to the end of the table as built: GANTRY_EXT_SIZE. */
  size_t ext_size;
  /* Optional (NULL: not implemented). Health: GANTRY_OK when the provider can serve, any
   * other code when it cannot, with a UTF-8 reason in *message (freed with free_buffer).
   * The host calls it every periodSeconds from its own thread, concurrently with handle_call
   * (make it thread-safe), never before configure_dispatch returns nor after stop; a call
   * that takes longer than timeoutSeconds counts as a failure, and no second health call is
   * made while one is still running. While unhealthy the instance gets no calls (its host
   * leaves the queue groups); failureThreshold failures in a row restart the host. */
  int32_t (*health)(void *ctx, gantry_buffer *message);
  /* Optional (NULL: not implemented). handle_call with the call's W3C trace context: when set,
   * the host calls it for EVERY call instead of handle_call (same arguments, threading, return
   * codes and reply buffer). traceparent and tracestate are the NUL-terminated values of the
   * W3C `traceparent` and `tracestate` headers of the host's span for this call, so spans the
   * provider starts are its children; both are "" when the call is not traced. Like every
   * argument they are valid only during the call, and tracestate comes from the caller:
   * treat it as untrusted input. */
  int32_t (*handle_call_traced)(void *ctx, const char *actor, const char *op, const uint8_t *msg,
                                size_t len, const char *traceparent, const char *tracestate,
                                gantry_buffer *reply);
} gantry_provider;

/* ext_size for a table built against this header. */
#define GANTRY_EXT_SIZE (sizeof(gantry_provider) - offsetof(gantry_provider, ext_size))

typedef const gantry_provider *(*gantry_provider_create_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* GANTRY_PROVIDER_H */
