/* tessera.h: the Tessera function contract for C compiled to WebAssembly (WASI).
 *
 * A function is a WASI reactor module that exports its handler under the name
 * the manifest gives (`handler: main.handle` -> file main.wasm, export `handle`):
 *
 *     #include "tessera.h"
 *
 *     int handle(const char *event, size_t len, tessera_context *ctx) {
 *         tessera_header(ctx, "content-type", "application/json");
 *         tessera_write(ctx, "{\"ok\": true}");
 *         return 0;
 *     }
 *
 * - `event` is the request body, `len` bytes plus a terminating NUL (so it may be
 *   scanned as a C string when it holds no NUL itself). `tessera_event_is_json(ctx)`
 *   tells whether the platform would hand a Python or JS handler parsed JSON.
 * - The response is built through the context: status (default 200), headers, and
 *   body bytes appended by `tessera_write_body`. A body with no content-type is
 *   sent as application/octet-stream; no body and status 200 is a 204.
 * - `tessera_fail(ctx, "ValueError", "asked to fail")`, or returning non-zero, makes
 *   the call an HTTP 500 whose body is "Type: message" (as a raised exception does
 *   in Python and JS). Returning non-zero without a failure reads "Error: handle
 *   returned N".
 * - Optional `int start(const char *config_json, size_t len, tessera_context *ctx)`
 *   runs once per instance before the first call (non-zero or tessera_fail: the
 *   instance does not start); optional `void stop(void)` runs when it is stopped.
 * - A trap (abort(), exit(), out-of-bounds access) fails the call with a 500 and
 *   the instance is replaced: a module whose state may be broken is not reused.
 * - stdout and stderr (printf, fprintf) go to the function's log; there is no file
 *   system and no network.
 *
 * Build with `tessera fn build-wasm DIR` (zig cc --target=wasm32-wasi
 * -mexec-model=reactor, with tessera.c from this folder linked in); `tessera fn
 * deploy` builds main.wasm from main.c itself when main.wasm is missing or older.
 */
#ifndef TESSERA_H
#define TESSERA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The current invocation; valid only during the handle() call it was given to. */
typedef struct tessera_context tessera_context;

#define TESSERA_IMPORT(name) __attribute__((import_module("tessera"), import_name(name)))
/* Marks a function as a module export (what the build helper does with -Wl,--export). */
#define TESSERA_EXPORT(name) __attribute__((export_name(name)))

/* --- the response ------------------------------------------------------------------ */
TESSERA_IMPORT("set_status") void tessera_set_status(tessera_context *ctx, int32_t status);
TESSERA_IMPORT("set_header")
void tessera_set_header(tessera_context *ctx, const char *name, size_t name_len,
                        const char *value, size_t value_len);
TESSERA_IMPORT("write_body")
void tessera_write_body(tessera_context *ctx, const void *data, size_t len);
TESSERA_IMPORT("fail")
void tessera_fail_n(tessera_context *ctx, const char *type, size_t type_len,
                    const char *message, size_t message_len);

/* --- the context: strings are copied into buf (at most cap bytes, no NUL added);
 * the return value is the full length, so a result > cap means "truncated". ---------- */
TESSERA_IMPORT("function_name")
size_t tessera_function_name(tessera_context *ctx, char *buf, size_t cap);
TESSERA_IMPORT("invocation_id")
size_t tessera_invocation_id(tessera_context *ctx, char *buf, size_t cap);
TESSERA_IMPORT("content_type")
size_t tessera_content_type(tessera_context *ctx, char *buf, size_t cap);
/* A request header (name in lower case); -1 when the request has none by that name. */
TESSERA_IMPORT("request_header")
int64_t tessera_request_header(tessera_context *ctx, const char *name, size_t name_len,
                               char *buf, size_t cap);
TESSERA_IMPORT("remaining_ms") int64_t tessera_remaining_ms(tessera_context *ctx);
TESSERA_IMPORT("version") int32_t tessera_version(tessera_context *ctx);
TESSERA_IMPORT("event_is_json") int32_t tessera_event_is_json(tessera_context *ctx);

/* --- the optional lifecycle hooks: exported when the function defines them ----------- */
TESSERA_EXPORT("start") int start(const char *config_json, size_t len, tessera_context *ctx);
TESSERA_EXPORT("stop") void stop(void);

/* --- conveniences for NUL-terminated strings ---------------------------------------- */
static inline void tessera_header(tessera_context *ctx, const char *name, const char *value) {
    tessera_set_header(ctx, name, strlen(name), value, strlen(value));
}

static inline void tessera_write(tessera_context *ctx, const char *text) {
    tessera_write_body(ctx, text, strlen(text));
}

static inline void tessera_fail(tessera_context *ctx, const char *type, const char *message) {
    tessera_fail_n(ctx, type, strlen(type), message, strlen(message));
}

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_H */
