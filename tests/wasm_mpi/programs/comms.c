/* comms.c - communicators and groups: dup, split, compare, set/get name,
 * group size/rank/incl/excl/translate_ranks, comm_create, and Cartesian
 * topologies (1-D ring and 2-D torus from MPI_Dims_create). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
static const char *cmpname(int r)
{
    return r == MPI_IDENT ? "IDENT" : r == MPI_CONGRUENT ? "CONGRUENT" : r == MPI_SIMILAR ? "SIMILAR" : r == MPI_UNEQUAL ? "UNEQUAL" : "?";
}
/* gather n ints per rank to rank 0 and print "label: [a b] [a b] ..." */
static void print_all(const char *label, const int *v, int n)
{
    int *all = malloc((size_t)size * n * sizeof(int));
    MPI_Gather(v, n, MPI_INT, all, n, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("%s:", label);
        for (int r = 0; r < size; r++) {
            printf(" [");
            for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", all[r * n + i]);
            printf("]");
        }
        printf("\n");
    }
    free(all);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm W = MPI_COMM_WORLD;
    int res, r, v[8];
    if (rank == 0) printf("comms: world size %d\n", size);

    /* dup, compare, names */
    MPI_Comm dup;
    MPI_Comm_dup(W, &dup);
    int c_ident, c_cong;
    MPI_Comm_compare(W, W, &c_ident);
    MPI_Comm_compare(W, dup, &c_cong);
    CHECK(c_ident == MPI_IDENT && c_cong == MPI_CONGRUENT, "comm_compare world/dup");
    char name[MPI_MAX_OBJECT_NAME], wname[MPI_MAX_OBJECT_NAME];
    int nlen = -1, wlen = -1;
    MPI_Comm_set_name(dup, "tessera-dup");
    MPI_Comm_get_name(dup, name, &nlen);
    MPI_Comm_get_name(W, wname, &wlen);
    CHECK(nlen == 11 && strcmp(name, "tessera-dup") == 0, "comm set/get name");
    CHECK(wlen == 14 && strcmp(wname, "MPI_COMM_WORLD") == 0, "world name");
    int dsum = 0;
    MPI_Allreduce(&rank, &dsum, 1, MPI_INT, MPI_SUM, dup);
    CHECK(dsum == size * (size - 1) / 2, "allreduce on dup");
    if (rank == 0) printf("dup: compare(world,world)=%s compare(world,dup)=%s name '%s' (%d) world '%s'\n",
                          cmpname(c_ident), cmpname(c_cong), name, nlen, wname);
    sync_checks("dup");

    /* split even/odd, key reverses order inside each half */
    MPI_Comm half;
    MPI_Comm_split(W, rank % 2, size - rank, &half);
    int hrank, hsize, hsum = 0;
    MPI_Comm_rank(half, &hrank);
    MPI_Comm_size(half, &hsize);
    MPI_Allreduce(&rank, &hsum, 1, MPI_INT, MPI_SUM, half);
    int nsame = (size - (rank % 2) + 1) / 2, exp_sum = 0;
    for (r = rank % 2; r < size; r += 2) exp_sum += r;
    CHECK(hsize == nsame && hrank == (nsame - 1) - rank / 2 && hsum == exp_sum, "split");
    MPI_Comm_compare(W, half, &res);
    CHECK(res == (size == 1 ? MPI_CONGRUENT : MPI_UNEQUAL), "compare split");
    if (rank == 0) printf("split: compare(world,half)=%s\n", cmpname(res));
    v[0] = hrank; v[1] = hsize; v[2] = hsum;
    print_all("split rank/size/sum", v, 3);
    MPI_Comm_free(&half);
    MPI_Comm_free(&dup);
    CHECK(half == MPI_COMM_NULL && dup == MPI_COMM_NULL, "comm_free nulls handle");
    sync_checks("split");

    /* groups */
    MPI_Group wg, eg, xg;
    MPI_Comm_group(W, &wg);
    int gs, gr;
    MPI_Group_size(wg, &gs);
    MPI_Group_rank(wg, &gr);
    CHECK(gs == size && gr == rank, "group size/rank");
    int nev = (size + 1) / 2, *ev = malloc((size_t)nev * sizeof(int)), *tr = malloc((size_t)size * sizeof(int));
    int *all = malloc((size_t)size * sizeof(int));
    for (r = 0; r < nev; r++) ev[r] = 2 * (nev - 1 - r);      /* evens, descending */
    MPI_Group_incl(wg, nev, ev, &eg);
    int exc0 = 0;
    MPI_Group_excl(wg, 1, &exc0, &xg);                        /* everyone but 0 */
    int egs, egr, xgs, xgr;
    MPI_Group_size(eg, &egs); MPI_Group_rank(eg, &egr);
    MPI_Group_size(xg, &xgs); MPI_Group_rank(xg, &xgr);
    CHECK(egs == nev && egr == (rank % 2 ? MPI_UNDEFINED : nev - 1 - rank / 2), "group_incl");
    CHECK(xgs == size - 1 && xgr == (rank == 0 ? MPI_UNDEFINED : rank - 1), "group_excl");
    for (r = 0; r < size; r++) all[r] = r;
    MPI_Group_translate_ranks(wg, size, all, eg, tr);
    for (r = 0; r < size; r++) CHECK(tr[r] == (r % 2 ? MPI_UNDEFINED : nev - 1 - r / 2), "translate world->even");
    if (rank == 0) {
        printf("groups: incl size %d excl size %d translate world->incl:", egs, xgs);
        for (r = 0; r < size; r++) { if (tr[r] == MPI_UNDEFINED) printf(" U"); else printf(" %d", tr[r]); }
        printf("\n");
    }
    if (xgs > 0) {
        for (r = 0; r < xgs; r++) all[r] = r;
        MPI_Group_translate_ranks(xg, xgs, all, wg, tr);
        for (r = 0; r < xgs; r++) CHECK(tr[r] == r + 1, "translate excl->world");
    }
    /* comm_create from the (descending) even group */
    MPI_Comm ec;
    MPI_Comm_create(W, eg, &ec);
    CHECK((rank % 2) ? ec == MPI_COMM_NULL : ec != MPI_COMM_NULL, "comm_create membership");
    v[0] = -1; v[1] = -1;
    if (ec != MPI_COMM_NULL) {
        int ecr, prod = 0, x = rank + 1;
        MPI_Comm_rank(ec, &ecr);
        MPI_Allreduce(&x, &prod, 1, MPI_INT, MPI_PROD, ec);
        v[0] = ecr; v[1] = prod;
        CHECK(ecr == egr, "comm_create rank");
        MPI_Comm_free(&ec);
    }
    print_all("comm_create rank/prod", v, 2);
    MPI_Group_free(&eg); MPI_Group_free(&xg); MPI_Group_free(&wg);
    CHECK(wg == MPI_GROUP_NULL && eg == MPI_GROUP_NULL, "group_free nulls handle");
    free(ev); free(tr); free(all);
    sync_checks("groups");

    /* 1-D periodic ring */
    MPI_Comm ring;
    int d1 = size, p1 = 1, src, dst, got = -1, ndims = -1;
    MPI_Cart_create(W, 1, &d1, &p1, 0, &ring);
    MPI_Cartdim_get(ring, &ndims);
    MPI_Cart_shift(ring, 0, 1, &src, &dst);
    CHECK(ndims == 1 && src == (rank + size - 1) % size && dst == (rank + 1) % size, "1-D cart shift");
    MPI_Sendrecv(&rank, 1, MPI_INT, dst, 1, &got, 1, MPI_INT, src, 1, ring, MPI_STATUS_IGNORE);
    CHECK(got == src, "1-D ring exchange");
    v[0] = src; v[1] = dst;
    print_all("cart1d src/dst", v, 2);
    MPI_Comm_free(&ring);
    sync_checks("cart 1-D");

    /* 2-D periodic torus */
    int dims[2] = { 0, 0 }, per[2] = { 1, 1 }, gd[2], gp[2], gc[2], co[2], back;
    MPI_Dims_create(size, 2, dims);
    CHECK(dims[0] * dims[1] == size && dims[0] >= dims[1], "dims_create");
    MPI_Comm cart;
    MPI_Cart_create(W, 2, dims, per, 0, &cart);
    MPI_Cartdim_get(cart, &ndims);
    MPI_Cart_get(cart, 2, gd, gp, gc);
    MPI_Cart_coords(cart, rank, 2, co);
    MPI_Cart_rank(cart, co, &back);
    CHECK(ndims == 2 && gd[0] == dims[0] && gd[1] == dims[1] && gp[0] == 1 && gp[1] == 1, "cart_get");
    CHECK(gc[0] == co[0] && gc[1] == co[1] && back == rank, "cart coords/rank");
    CHECK(co[0] == rank / dims[1] && co[1] == rank % dims[1], "row-major coords");
    int up, down, lf, rt, wrap[2] = { co[0] - 1, co[1] + dims[1] }, wr;
    MPI_Cart_shift(cart, 0, 1, &up, &down);
    MPI_Cart_shift(cart, 1, 1, &lf, &rt);
    MPI_Cart_rank(cart, wrap, &wr);   /* periodic: out-of-range coords wrap */
    CHECK(up == ((co[0] + dims[0] - 1) % dims[0]) * dims[1] + co[1], "cart shift dim 0");
    CHECK(rt == co[0] * dims[1] + (co[1] + 1) % dims[1] && wr == up, "cart shift dim 1 / wrap");
    int sum4 = 0, nb[4] = { up, down, lf, rt }, vals[4];
    for (int k = 0; k < 4; k += 2) {
        MPI_Sendrecv(&rank, 1, MPI_INT, nb[k + 1], 2 + k, &vals[k], 1, MPI_INT, nb[k], 2 + k, cart, MPI_STATUS_IGNORE);
        MPI_Sendrecv(&rank, 1, MPI_INT, nb[k], 3 + k, &vals[k + 1], 1, MPI_INT, nb[k + 1], 3 + k, cart, MPI_STATUS_IGNORE);
    }
    for (int k = 0; k < 4; k++) { CHECK(vals[k] == nb[k], "torus halo"); sum4 += vals[k]; }
    if (rank == 0) printf("cart2d dims %d x %d periods %d %d\n", gd[0], gd[1], gp[0], gp[1]);
    v[0] = co[0]; v[1] = co[1]; v[2] = up; v[3] = down; v[4] = lf; v[5] = rt; v[6] = sum4;
    print_all("cart2d coords/up/down/left/right/sum", v, 7);
    MPI_Comm_free(&cart);
    sync_checks("cart 2-D");

    if (rank == 0) { printf("OK comms\n"); fflush(stdout); }
    MPI_Finalize();
    return 0;
}
