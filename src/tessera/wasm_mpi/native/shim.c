/* Tessera wasm_mpi native shim: the hot MPI imports of a wasm32 guest, in C.
 *
 * Each function here is a wasmtime "unchecked" host function: it receives the
 * guest's arguments as raw 64-bit slots, turns guest addresses into host
 * addresses after a bounds check against the guest memory, maps guest handles
 * through the shared tables (tm_tables, which the Python side fills and reads
 * too) and calls the host MPI directly: no Python, no copies. Anything the
 * guest gets wrong becomes a wasm trap with a message, never a host crash.
 *
 * No wasmtime headers are needed: the few C API entry points used are passed
 * in by tm_init() from the wasmtime library Python already loaded, and the
 * structs below mirror its layout (wasmtime's C API, as wasmtime-py declares it).
 * The guest ABI numbers are Tessera's mpi.h (see tessera/wasm_mpi/abi.py).
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct { uint64_t store_id; uint32_t p1; } tm_mem_anon;
typedef struct { tm_mem_anon a; uint32_t p2; } tm_memory_t;
typedef struct { uint8_t kind; union { tm_memory_t memory; uint8_t pad[64]; } of; } tm_extern_t;
typedef union { int32_t i32; int64_t i64; float f32; double f64; uint8_t v128[16]; void *ptr; } tm_val_t;

typedef int (*export_get_fn)(void *caller, const char *name, size_t len, tm_extern_t *out);
typedef void *(*context_fn)(void *caller);
typedef uint8_t *(*mem_data_fn)(void *ctx, const tm_memory_t *mem);
typedef size_t (*mem_size_fn)(void *ctx, const tm_memory_t *mem);
typedef void *(*trap_new_fn)(const char *msg, size_t len);

static export_get_fn w_export_get;
static context_fn w_context;
static mem_data_fn w_mem_data;
static mem_size_fn w_mem_size;
static trap_new_fn w_trap_new;

enum { K_COMM, K_TYPE, K_OP, K_REQ, K_GROUP, K_KINDS };
#define TM_TABLE_SIZE 4096
int64_t tm_tables[K_KINDS][TM_TABLE_SIZE];
static const int first_free[K_KINDS] = {3, 35, 15, 1, 2};
static const char *kind_name[K_KINDS] = {"comm", "type", "op", "req", "group"};

/* guest constants (mpi.h) */
#define G_ANY_SOURCE (-2)
#define G_PROC_NULL (-1)
#define G_ROOT (-3)
#define G_ANY_TAG (-1)
#define G_UNDEFINED (-32766)
#define G_IN_PLACE 0xFFFFFFFFu
#define STATUS_SIZE 20

static tm_extern_t mem_ext;
static void *mem_ctx; /* the store context mem_ext was looked up in */
static int64_t calls;

int tm_init(void *export_get, void *context, void *mem_data, void *mem_size, void *trap_new) {
    w_export_get = (export_get_fn)export_get;
    w_context = (context_fn)context;
    w_mem_data = (mem_data_fn)mem_data;
    w_mem_size = (mem_size_fn)mem_size;
    w_trap_new = (trap_new_fn)trap_new;
    mem_ctx = NULL;
    return (int)sizeof(tm_extern_t);
}

int64_t tm_calls(void) { return calls; }

typedef struct { uint8_t *base; size_t size; char err[256]; int bad; } tm_ctx;

static void *trap(tm_ctx *c) { return w_trap_new(c->err, strlen(c->err)); }

static int guest(void *caller, tm_ctx *c) {
    c->bad = 0;
    void *ctx = w_context(caller);
    if (ctx != mem_ctx) { /* first call from this store: find its memory once */
        if (!w_export_get(caller, "memory", 6, &mem_ext) || mem_ext.kind != 3) {
            snprintf(c->err, sizeof c->err, "the guest exports no linear memory named 'memory'");
            c->bad = 1;
            return 0;
        }
        mem_ctx = ctx;
    }
    c->base = w_mem_data(ctx, &mem_ext.of.memory);
    c->size = w_mem_size(ctx, &mem_ext.of.memory);
    calls++;
    return 1;
}

static void *at(tm_ctx *c, uint32_t ptr, int64_t off, int64_t n, const char *what) {
    int64_t lo = (int64_t)ptr + off;
    if (c->bad) return NULL;
    if (n < 0 || lo < 0 || lo + n > (int64_t)c->size) {
        snprintf(c->err, sizeof c->err,
                 "%s: guest buffer [%#llx, %#llx) lies outside the guest memory (size %#llx)", what,
                 (unsigned long long)lo, (unsigned long long)(lo + (n < 0 ? 0 : n)),
                 (unsigned long long)c->size);
        c->bad = 1;
        return NULL;
    }
    return c->base + ptr;
}

static int64_t handle(tm_ctx *c, int kind, int32_t g, const char *what) {
    if (c->bad) return 0;
    if (g < 0 || g >= TM_TABLE_SIZE || tm_tables[kind][g] == 0) {
        snprintf(c->err, sizeof c->err, "%s: %d is not a valid %s handle (freed or never made)",
                 what, g, kind_name[kind]);
        c->bad = 1;
        return 0;
    }
    return tm_tables[kind][g];
}

#define COMM(g) ((MPI_Comm)(intptr_t)handle(&c, K_COMM, (g), W))
#define TYPE(g) ((MPI_Datatype)(intptr_t)handle(&c, K_TYPE, (g), W))
#define OP(g) ((MPI_Op)(intptr_t)handle(&c, K_OP, (g), W))
#define ARG(i) (args[i].i32)
#define UARG(i) ((uint32_t)args[i].i32)
#define BEGIN(name) \
    static const char *W = name; \
    tm_ctx c; \
    if (!guest(caller, &c)) return trap(&c)
#define CHECK() do { if (c.bad) return trap(&c); } while (0)
#define RET(v) do { int32_t rv_ = (v); args[0].i64 = 0; args[0].i32 = rv_; return NULL; } while (0)

/* the host address of count items of dt at guest ptr, bounds-checked (NULL + c.bad on error) */
static void *buffer(tm_ctx *c, uint32_t ptr, int count, MPI_Datatype dt, const char *what) {
    if (c->bad) return NULL;
    if (count < 0) {
        snprintf(c->err, sizeof c->err, "%s: negative count %d", what, count);
        c->bad = 1;
        return NULL;
    }
    if (count == 0) return at(c, ptr, 0, 0, what);
    MPI_Aint lb, extent, tlb, textent;
    MPI_Type_get_extent(dt, &lb, &extent);
    MPI_Type_get_true_extent(dt, &tlb, &textent);
    /* item i covers [i*extent + tlb, +textent); the extent may be negative */
    int64_t last = (int64_t)(count - 1) * extent;
    int64_t lo = (last < 0 ? last : 0) + tlb;
    int64_t hi = (last > 0 ? last : 0) + tlb + textent;
    if (at(c, ptr, lo, hi - lo, what) == NULL) return NULL;
    return c->base + ptr;
}

static void *sendbuf(tm_ctx *c, uint32_t ptr, int count, MPI_Datatype dt, const char *what) {
    if (ptr == G_IN_PLACE) return MPI_IN_PLACE;
    return buffer(c, ptr, count, dt, what);
}

static int rank_in(int r) {
    if (r == G_ANY_SOURCE) return MPI_ANY_SOURCE;
    if (r == G_PROC_NULL) return MPI_PROC_NULL;
    if (r == G_ROOT) return MPI_ROOT;
    return r;
}
static int rank_out(int r) {
    if (r == MPI_ANY_SOURCE) return G_ANY_SOURCE;
    if (r == MPI_PROC_NULL) return G_PROC_NULL;
    if (r == MPI_ROOT) return G_ROOT;
    if (r == MPI_UNDEFINED) return G_UNDEFINED;
    return r;
}
static int tag_in(int t) { return t == G_ANY_TAG ? MPI_ANY_TAG : t; }
static int tag_out(int t) { return t == MPI_ANY_TAG ? G_ANY_TAG : t; }

static void put_status(tm_ctx *c, uint32_t ptr, MPI_Status *st, const char *what) {
    if (ptr == 0) return; /* MPI_STATUS_IGNORE */
    int32_t *g = (int32_t *)at(c, ptr, 0, STATUS_SIZE, what);
    if (!g) return;
    int count = 0, cancelled = 0;
    MPI_Get_count(st, MPI_BYTE, &count);
    MPI_Test_cancelled(st, &cancelled);
    g[0] = rank_out(st->MPI_SOURCE);
    g[1] = tag_out(st->MPI_TAG);
    g[2] = MPI_SUCCESS; /* MPI leaves MPI_ERROR unset for single completions (as host.py) */
    g[3] = count == MPI_UNDEFINED ? G_UNDEFINED : count;
    g[4] = cancelled;
}

static int new_request(tm_ctx *c, MPI_Request r, const char *what) {
    for (int i = first_free[K_REQ]; i < TM_TABLE_SIZE; i++) {
        if (tm_tables[K_REQ][i] == 0) {
            tm_tables[K_REQ][i] = (int64_t)(intptr_t)r;
            return i;
        }
    }
    snprintf(c->err, sizeof c->err, "%s: more than %d live req handles", what, TM_TABLE_SIZE);
    c->bad = 1;
    return 0;
}

typedef void *(*cb_t)(void *env, void *caller, tm_val_t *args, size_t n);

void *tm_MPI_Comm_rank(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Comm_rank");
    MPI_Comm comm = COMM(ARG(0));
    int32_t *out = (int32_t *)at(&c, UARG(1), 0, 4, W);
    CHECK();
    int r; MPI_Comm_rank(comm, &r); *out = r;
    RET(0);
}

void *tm_MPI_Comm_size(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Comm_size");
    MPI_Comm comm = COMM(ARG(0));
    int32_t *out = (int32_t *)at(&c, UARG(1), 0, 4, W);
    CHECK();
    int s; MPI_Comm_size(comm, &s); *out = s;
    RET(0);
}

void *tm_MPI_Wtime(void *env, void *caller, tm_val_t *args, size_t n) {
    (void)env; (void)caller; (void)n;
    args[0].f64 = MPI_Wtime();
    return NULL;
}

void *tm_MPI_Barrier(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Barrier");
    MPI_Comm comm = COMM(ARG(0));
    CHECK();
    RET(MPI_Barrier(comm));
}

static void *send_like(void *caller, tm_val_t *args, const char *W, int mode) {
    tm_ctx c;
    if (!guest(caller, &c)) return trap(&c);
    MPI_Datatype dt = TYPE(ARG(2));
    MPI_Comm comm = COMM(ARG(5));
    void *buf = buffer(&c, UARG(0), ARG(1), dt, W);
    CHECK();
    int rc = mode == 0 ? MPI_Send(buf, ARG(1), dt, rank_in(ARG(3)), ARG(4), comm)
                       : MPI_Ssend(buf, ARG(1), dt, rank_in(ARG(3)), ARG(4), comm);
    RET(rc);
}

void *tm_MPI_Send(void *env, void *caller, tm_val_t *args, size_t n) {
    return send_like(caller, args, "MPI_Send", 0);
}

void *tm_MPI_Ssend(void *env, void *caller, tm_val_t *args, size_t n) {
    return send_like(caller, args, "MPI_Ssend", 1);
}

void *tm_MPI_Recv(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Recv");
    MPI_Datatype dt = TYPE(ARG(2));
    MPI_Comm comm = COMM(ARG(5));
    void *buf = buffer(&c, UARG(0), ARG(1), dt, W);
    if (UARG(6)) at(&c, UARG(6), 0, STATUS_SIZE, W);
    CHECK();
    MPI_Status st;
    int rc = MPI_Recv(buf, ARG(1), dt, rank_in(ARG(3)), tag_in(ARG(4)), comm, &st);
    put_status(&c, UARG(6), &st, W);
    RET(rc);
}

void *tm_MPI_Sendrecv(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Sendrecv");
    MPI_Datatype st_ = TYPE(ARG(2)), rt = TYPE(ARG(7));
    MPI_Comm comm = COMM(ARG(10));
    void *sb = buffer(&c, UARG(0), ARG(1), st_, W);
    void *rb = buffer(&c, UARG(5), ARG(6), rt, W);
    if (UARG(11)) at(&c, UARG(11), 0, STATUS_SIZE, W);
    CHECK();
    MPI_Status st;
    int rc = MPI_Sendrecv(sb, ARG(1), st_, rank_in(ARG(3)), ARG(4), rb, ARG(6), rt,
                          rank_in(ARG(8)), tag_in(ARG(9)), comm, &st);
    put_status(&c, UARG(11), &st, W);
    RET(rc);
}

/* MPI_Isend / MPI_Irecv: same arguments, one new request handle for the guest */
static void *start_like(void *caller, tm_val_t *args, const char *W, int recv) {
    tm_ctx c;
    if (!guest(caller, &c)) return trap(&c);
    MPI_Datatype dt = TYPE(ARG(2));
    MPI_Comm comm = COMM(ARG(5));
    void *buf = buffer(&c, UARG(0), ARG(1), dt, W);
    int32_t *out = (int32_t *)at(&c, UARG(6), 0, 4, W);
    CHECK();
    MPI_Request r;
    int rc = recv ? MPI_Irecv(buf, ARG(1), dt, rank_in(ARG(3)), tag_in(ARG(4)), comm, &r)
                  : MPI_Isend(buf, ARG(1), dt, rank_in(ARG(3)), ARG(4), comm, &r);
    *out = new_request(&c, r, W);
    CHECK();
    RET(rc);
}

void *tm_MPI_Isend(void *env, void *caller, tm_val_t *args, size_t n) {
    return start_like(caller, args, "MPI_Isend", 0);
}

void *tm_MPI_Irecv(void *env, void *caller, tm_val_t *args, size_t n) {
    return start_like(caller, args, "MPI_Irecv", 1);
}

static void empty_status(tm_ctx *c, uint32_t ptr, const char *what) {
    if (!ptr) return;
    int32_t *g = (int32_t *)at(c, ptr, 0, STATUS_SIZE, what);
    if (!g) return;
    g[0] = G_ANY_SOURCE; g[1] = G_ANY_TAG; g[2] = 0; g[3] = 0; g[4] = 0;
}

/* wait for the request whose guest handle is at guest address rptr */
static int wait_one(tm_ctx *c, uint32_t rptr, uint32_t sptr, const char *W) {
    int32_t *gr = (int32_t *)at(c, rptr, 0, 4, W);
    if (sptr) at(c, sptr, 0, STATUS_SIZE, W);
    if (c->bad) return 0;
    int32_t g = *gr;
    if (g == 0) { empty_status(c, sptr, W); return 0; }
    MPI_Request r = (MPI_Request)(intptr_t)handle(c, K_REQ, g, W);
    if (c->bad) return 0;
    MPI_Status st;
    int rc = MPI_Wait(&r, &st);
    if (r == MPI_REQUEST_NULL) {
        tm_tables[K_REQ][g] = 0;
        *(int32_t *)(c->base + rptr) = 0;
    } else {
        tm_tables[K_REQ][g] = (int64_t)(intptr_t)r;
    }
    put_status(c, sptr, &st, W);
    return rc;
}

void *tm_MPI_Wait(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Wait");
    int rc = wait_one(&c, UARG(0), UARG(1), W);
    CHECK();
    RET(rc);
}

void *tm_MPI_Waitall(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Waitall");
    int count = ARG(0);
    if (count < 0) { snprintf(c.err, sizeof c.err, "%s: negative count %d", W, count); return trap(&c); }
    at(&c, UARG(1), 0, 4 * (int64_t)count, W);
    if (UARG(2)) at(&c, UARG(2), 0, (int64_t)STATUS_SIZE * count, W);
    CHECK();
    for (int i = 0; i < count; i++) {
        wait_one(&c, UARG(1) + 4u * i, UARG(2) ? UARG(2) + (uint32_t)STATUS_SIZE * i : 0, W);
        CHECK();
    }
    RET(0);
}

void *tm_MPI_Test(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Test");
    int32_t *gr = (int32_t *)at(&c, UARG(0), 0, 4, W);
    int32_t *flag = (int32_t *)at(&c, UARG(1), 0, 4, W);
    if (UARG(2)) at(&c, UARG(2), 0, STATUS_SIZE, W);
    CHECK();
    int32_t g = *gr;
    if (g == 0) { *flag = 1; empty_status(&c, UARG(2), W); RET(0); }
    MPI_Request r = (MPI_Request)(intptr_t)handle(&c, K_REQ, g, W);
    CHECK();
    MPI_Status st;
    int done = 0;
    int rc = MPI_Test(&r, &done, &st);
    if (done) {
        if (r == MPI_REQUEST_NULL) { tm_tables[K_REQ][g] = 0; *gr = 0; }
        else tm_tables[K_REQ][g] = (int64_t)(intptr_t)r;
        put_status(&c, UARG(2), &st, W);
    }
    *flag = done;
    RET(rc);
}

void *tm_MPI_Bcast(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Bcast");
    MPI_Datatype dt = TYPE(ARG(2));
    MPI_Comm comm = COMM(ARG(4));
    void *buf = buffer(&c, UARG(0), ARG(1), dt, W);
    CHECK();
    RET(MPI_Bcast(buf, ARG(1), dt, rank_in(ARG(3)), comm));
}

void *tm_MPI_Allreduce(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Allreduce");
    MPI_Datatype dt = TYPE(ARG(3));
    MPI_Op op = OP(ARG(4));
    MPI_Comm comm = COMM(ARG(5));
    void *sb = sendbuf(&c, UARG(0), ARG(2), dt, W);
    void *rb = buffer(&c, UARG(1), ARG(2), dt, W);
    CHECK();
    RET(MPI_Allreduce(sb, rb, ARG(2), dt, op, comm));
}

void *tm_MPI_Reduce(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Reduce");
    MPI_Datatype dt = TYPE(ARG(3));
    MPI_Op op = OP(ARG(4));
    MPI_Comm comm = COMM(ARG(6));
    CHECK();
    int me; MPI_Comm_rank(comm, &me);
    void *sb = sendbuf(&c, UARG(0), ARG(2), dt, W);
    void *rb = me == ARG(5) ? buffer(&c, UARG(1), ARG(2), dt, W) : NULL;
    CHECK();
    RET(MPI_Reduce(sb, rb, ARG(2), dt, op, ARG(5), comm));
}

/* count items per rank x ranks: the whole buffer of a rooted or all-to-all collective */
static void *ranks_buffer(tm_ctx *c, uint32_t ptr, int count, int ranks, MPI_Datatype dt,
                          int may_be_in_place, const char *what) {
    if (may_be_in_place && ptr == G_IN_PLACE) return MPI_IN_PLACE;
    int64_t total = (int64_t)count * ranks;
    if (total > 0x7fffffff) {
        snprintf(c->err, sizeof c->err, "%s: %d items x %d ranks overflows an int", what, count,
                 ranks);
        c->bad = 1;
        return NULL;
    }
    return buffer(c, ptr, (int)total, dt, what);
}

void *tm_MPI_Gather(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Gather");
    MPI_Datatype st = TYPE(ARG(2)), rt = TYPE(ARG(5));
    MPI_Comm comm = COMM(ARG(7));
    CHECK();
    int me, size; MPI_Comm_rank(comm, &me); MPI_Comm_size(comm, &size);
    int root = me == ARG(6);
    void *sb = root ? ranks_buffer(&c, UARG(0), ARG(1), 1, st, 1, W)
                    : buffer(&c, UARG(0), ARG(1), st, W);
    void *rb = root ? ranks_buffer(&c, UARG(3), ARG(4), size, rt, 0, W) : NULL;
    CHECK();
    RET(MPI_Gather(sb, ARG(1), st, rb, ARG(4), rt, ARG(6), comm));
}

void *tm_MPI_Scatter(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Scatter");
    MPI_Datatype st = TYPE(ARG(2)), rt = TYPE(ARG(5));
    MPI_Comm comm = COMM(ARG(7));
    CHECK();
    int me, size; MPI_Comm_rank(comm, &me); MPI_Comm_size(comm, &size);
    int root = me == ARG(6);
    void *sb = root ? ranks_buffer(&c, UARG(0), ARG(1), size, st, 0, W) : NULL;
    void *rb = root ? ranks_buffer(&c, UARG(3), ARG(4), 1, rt, 1, W)
                    : buffer(&c, UARG(3), ARG(4), rt, W);
    CHECK();
    RET(MPI_Scatter(sb, ARG(1), st, rb, ARG(4), rt, ARG(6), comm));
}

void *tm_MPI_Allgather(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Allgather");
    MPI_Datatype st = TYPE(ARG(2)), rt = TYPE(ARG(5));
    MPI_Comm comm = COMM(ARG(6));
    CHECK();
    int size; MPI_Comm_size(comm, &size);
    void *sb = ranks_buffer(&c, UARG(0), ARG(1), 1, st, 1, W);
    void *rb = ranks_buffer(&c, UARG(3), ARG(4), size, rt, 0, W);
    CHECK();
    RET(MPI_Allgather(sb, ARG(1), st, rb, ARG(4), rt, comm));
}

void *tm_MPI_Alltoall(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Alltoall");
    MPI_Datatype st = TYPE(ARG(2)), rt = TYPE(ARG(5));
    MPI_Comm comm = COMM(ARG(6));
    CHECK();
    int size; MPI_Comm_size(comm, &size);
    void *sb = ranks_buffer(&c, UARG(0), ARG(1), size, st, 1, W);
    void *rb = ranks_buffer(&c, UARG(3), ARG(4), size, rt, 0, W);
    CHECK();
    RET(MPI_Alltoall(sb, ARG(1), st, rb, ARG(4), rt, comm));
}

void *tm_MPI_Iprobe(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Iprobe");
    MPI_Comm comm = COMM(ARG(2));
    int32_t *flag = (int32_t *)at(&c, UARG(3), 0, 4, W);
    if (UARG(4)) at(&c, UARG(4), 0, STATUS_SIZE, W);
    CHECK();
    MPI_Status st;
    int found = 0;
    int rc = MPI_Iprobe(rank_in(ARG(0)), tag_in(ARG(1)), comm, &found, &st);
    *flag = found;
    if (found) put_status(&c, UARG(4), &st, W);
    RET(rc);
}

void *tm_MPI_Probe(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("MPI_Probe");
    MPI_Comm comm = COMM(ARG(2));
    if (UARG(3)) at(&c, UARG(3), 0, STATUS_SIZE, W);
    CHECK();
    MPI_Status st;
    int rc = MPI_Probe(rank_in(ARG(0)), tag_in(ARG(1)), comm, &st);
    put_status(&c, UARG(3), &st, W);
    RET(rc);
}

/* tessera.noop: a do-nothing import (module "tessera", not MPI) that the host-call benchmark
 * times; it still does what every MPI import does first (find the guest memory) */
void *tm_tessera_noop(void *env, void *caller, tm_val_t *args, size_t n) {
    BEGIN("tessera.noop");
    (void)W;
    RET(args[0].i32);
}

/* name -> callback, for registration from Python */
typedef struct { const char *name; cb_t fn; } tm_entry;
static const tm_entry entries[] = {
    {"MPI_Comm_rank", tm_MPI_Comm_rank}, {"MPI_Comm_size", tm_MPI_Comm_size},
    {"MPI_Wtime", tm_MPI_Wtime}, {"MPI_Barrier", tm_MPI_Barrier},
    {"MPI_Send", tm_MPI_Send}, {"MPI_Ssend", tm_MPI_Ssend}, {"MPI_Recv", tm_MPI_Recv},
    {"MPI_Sendrecv", tm_MPI_Sendrecv}, {"MPI_Isend", tm_MPI_Isend}, {"MPI_Irecv", tm_MPI_Irecv},
    {"MPI_Wait", tm_MPI_Wait}, {"MPI_Waitall", tm_MPI_Waitall}, {"MPI_Test", tm_MPI_Test},
    {"MPI_Bcast", tm_MPI_Bcast}, {"MPI_Allreduce", tm_MPI_Allreduce},
    {"MPI_Reduce", tm_MPI_Reduce}, {"MPI_Iprobe", tm_MPI_Iprobe}, {"MPI_Probe", tm_MPI_Probe},
    {"MPI_Gather", tm_MPI_Gather}, {"MPI_Scatter", tm_MPI_Scatter},
    {"MPI_Allgather", tm_MPI_Allgather}, {"MPI_Alltoall", tm_MPI_Alltoall},
    {"tessera_noop", tm_tessera_noop},
};

int tm_count(void) { return (int)(sizeof entries / sizeof entries[0]); }
const char *tm_name(int i) { return entries[i].name; }
void *tm_fn(int i) { return (void *)entries[i].fn; }
