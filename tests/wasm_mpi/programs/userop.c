/* userop.c - user-defined reduction operators: a commutative element-wise sum
 * of struct {int a; double b;} (described by MPI_Type_create_struct) and a
 * non-commutative 2x2 integer matrix product that exposes rank order.
 * MPI_Op_create, MPI_Op_commutative, MPI_Op_free with Reduce/Allreduce. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

typedef struct { int a; double b; } pair_t;
typedef struct { int m[4]; } mat_t;    /* row-major 2x2: m[0] m[1] / m[2] m[3] */

static int pair_calls;
static void pair_sum(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    pair_t *x = in, *y = inout;
    (void)dt;
    pair_calls++;
    for (int i = 0; i < *len; i++) { y[i].a += x[i].a; y[i].b += x[i].b; }
}
static mat_t mat_mul(mat_t p, mat_t q)
{
    mat_t r;
    r.m[0] = p.m[0] * q.m[0] + p.m[1] * q.m[2];
    r.m[1] = p.m[0] * q.m[1] + p.m[1] * q.m[3];
    r.m[2] = p.m[2] * q.m[0] + p.m[3] * q.m[2];
    r.m[3] = p.m[2] * q.m[1] + p.m[3] * q.m[3];
    return r;
}
/* MPI semantics: inout = in op inout, where "in" holds the lower ranks */
static void mat_prod(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    mat_t *x = in, *y = inout;
    (void)dt;
    for (int i = 0; i < *len; i++) y[i] = mat_mul(x[i], y[i]);
}
/* two matrices per rank; neither family commutes across ranks */
static mat_t mat_of(int k, int r)
{
    mat_t t;
    if (k == 0) { t.m[0] = r + 1; t.m[1] = 1; t.m[2] = 1; t.m[3] = 0; }           /* continuant */
    else if (r % 2) { t.m[0] = 1; t.m[1] = 0; t.m[2] = r; t.m[3] = 1; }              /* lower shear */
    else { t.m[0] = 1; t.m[1] = r + 1; t.m[2] = 0; t.m[3] = 1; }                     /* upper shear */
    return t;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm W = MPI_COMM_WORLD;
    int i, k;
    if (rank == 0) printf("userop: world size %d\n", size);

    /* struct type with displacements from MPI_Get_address, resized to the C stride */
    pair_t pv[3], pr[3], pa[3];
    MPI_Aint base, da, db, d1;
    MPI_Get_address(&pv[0], &base);
    MPI_Get_address(&pv[0].a, &da);
    MPI_Get_address(&pv[0].b, &db);
    MPI_Get_address(&pv[1], &d1);
    int bl[2] = { 1, 1 };
    MPI_Aint disp[2] = { da - base, db - base };
    MPI_Datatype tys[2] = { MPI_INT, MPI_DOUBLE }, raw, ptype, mtype;
    MPI_Type_create_struct(2, bl, disp, tys, &raw);
    MPI_Type_create_resized(raw, 0, d1 - base, &ptype);
    MPI_Type_commit(&ptype);
    MPI_Type_free(&raw);
    MPI_Type_contiguous(4, MPI_INT, &mtype);
    MPI_Type_commit(&mtype);

    MPI_Op psum, mprod;
    MPI_Op_create(pair_sum, 1, &psum);
    MPI_Op_create(mat_prod, 0, &mprod);
    int c_psum = -1, c_mprod = -1, c_sum = -1;
    MPI_Op_commutative(psum, &c_psum);
    MPI_Op_commutative(mprod, &c_mprod);
    MPI_Op_commutative(MPI_SUM, &c_sum);
    CHECK(c_psum == 1 && c_mprod == 0 && c_sum == 1, "op_commutative");
    if (rank == 0) printf("commutative: pair_sum %d mat_prod %d MPI_SUM %d\n", c_psum, c_mprod, c_sum);
    sync_checks("op_create");

    /* commutative struct sum */
    for (i = 0; i < 3; i++) {
        pv[i].a = (rank + 1) * (i + 1); pv[i].b = rank * 0.25 + i;
        pr[i].a = pa[i].a = -1; pr[i].b = pa[i].b = -1.0;
    }
    MPI_Reduce(pv, pr, 3, ptype, psum, 0, W);
    MPI_Allreduce(pv, pa, 3, ptype, psum, W);
    int tri = size * (size + 1) / 2;
    for (i = 0; i < 3; i++) {
        CHECK(pa[i].a == tri * (i + 1) && pa[i].b == (tri - size) * 0.25 + size * i, "allreduce pair_sum");
        if (rank == 0) CHECK(pr[i].a == pa[i].a && pr[i].b == pa[i].b, "reduce pair_sum");
    }
    int called;
    MPI_Allreduce(&pair_calls, &called, 1, MPI_INT, MPI_SUM, W);
    CHECK(size == 1 || called > 0, "user function was called");
    if (rank == 0) {
        printf("pair_sum:");
        for (i = 0; i < 3; i++) printf(" (%d, %.6f)", pr[i].a, pr[i].b);
        printf("\n");
    }
    sync_checks("pair_sum");

    /* non-commutative matrix product in rank order */
    mat_t mv[2], mr[2], ma[2], e[2], mroot[2];
    for (k = 0; k < 2; k++) {
        mv[k] = mat_of(k, rank);
        e[k] = mat_of(k, 0);
        for (int r = 1; r < size; r++) e[k] = mat_mul(e[k], mat_of(k, r));
        mat_t rev = mat_of(k, size - 1);    /* reversed order must differ (test is order-sensitive) */
        for (int r = size - 2; r >= 0; r--) rev = mat_mul(rev, mat_of(k, r));
        CHECK(size < 2 || rev.m[0] != e[k].m[0] || rev.m[1] != e[k].m[1] || rev.m[2] != e[k].m[2], "order sensitivity");
        for (i = 0; i < 4; i++) mr[k].m[i] = ma[k].m[i] = mroot[k].m[i] = -1;
    }
    MPI_Reduce(mv, mr, 2, mtype, mprod, 0, W);
    MPI_Allreduce(mv, ma, 2, mtype, mprod, W);
    MPI_Reduce(mv, mroot, 2, mtype, mprod, size - 1, W);    /* non-zero root */
    for (k = 0; k < 2; k++) for (i = 0; i < 4; i++) {
        CHECK(ma[k].m[i] == e[k].m[i], "allreduce mat_prod (rank order)");
        if (rank == 0) CHECK(mr[k].m[i] == e[k].m[i], "reduce mat_prod (rank order)");
        if (rank == size - 1) CHECK(mroot[k].m[i] == e[k].m[i], "reduce mat_prod at last rank");
    }
    if (rank == 0)
        for (k = 0; k < 2; k++)
            printf("mat_prod %d: [[%d, %d], [%d, %d]]\n", k, mr[k].m[0], mr[k].m[1], mr[k].m[2], mr[k].m[3]);
    sync_checks("mat_prod");

    MPI_Op_free(&psum);
    MPI_Op_free(&mprod);
    CHECK(psum == MPI_OP_NULL && mprod == MPI_OP_NULL, "op_free nulls handle");
    MPI_Type_free(&ptype);
    MPI_Type_free(&mtype);
    sync_checks("op_free");

    if (rank == 0) { printf("OK userop\n"); fflush(stdout); }
    MPI_Finalize();
    return 0;
}
