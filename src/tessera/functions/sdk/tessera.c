/* tessera.c: the exports the host needs from every Tessera WASI module, linked in by
 * the build helper. The host copies each request body into memory it gets from
 * tessera_alloc and gives it back with tessera_free after the call, then calls
 * tessera_flush so that what the call printed reaches the function's log. */
#include <stdio.h>
#include <stdlib.h>

#include "tessera.h"

TESSERA_EXPORT("tessera_alloc") void *tessera_alloc(size_t size) {
    return malloc(size ? size : 1);
}

TESSERA_EXPORT("tessera_free") void tessera_free(void *ptr) { free(ptr); }

TESSERA_EXPORT("tessera_flush") void tessera_flush(void) { fflush(NULL); }
