/* Example function in C (built to WASI): the FNV-1a hash and size of the request body.
 * Build: tessera fn build-wasm DIR (tessera fn deploy DIR builds it when needed). */
#include <stdint.h>
#include <stdio.h>

#include "tessera.h"

int handle(const char *event, size_t len, tessera_context *ctx) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        hash ^= (unsigned char)event[i];
        hash *= 0x100000001b3ULL;
    }
    char name[64];
    size_t n = tessera_function_name(ctx, name, sizeof name - 1);
    name[n < sizeof name - 1 ? n : sizeof name - 1] = '\0';
    char out[160];
    snprintf(out, sizeof out, "{\"bytes\": %zu, \"fnv1a64\": \"%016llx\", \"function\": \"%s\"}",
             len, (unsigned long long)hash, name);
    tessera_header(ctx, "content-type", "application/json");
    tessera_write(ctx, out);
    return 0;
}
