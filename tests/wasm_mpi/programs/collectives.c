/* collectives.c - barrier, bcast, reduce (all predefined int ops, double,
 * long long, unsigned char), allreduce (+IN_PLACE), gather(v), scatter(v),
 * allgather(v), alltoall(v), reduce_scatter(_block), scan, exscan. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
static void print_ints(const char *label, const int *v, int n)
{
    printf("%s:", label);
    for (int i = 0; i < n; i++) printf(" %d", v[i]);
    printf("\n");
}
#define NOPS 9
/* per-rank input and expected result of op k over ranks 0..n-1 */
static int in_of(int k, int r)
{
    switch (k) {
    case 0: return r + 1;                 /* SUM */
    case 1: return r + 1;                 /* PROD */
    case 2: return (r * 5) % 7;           /* MAX */
    case 3: return (r * 5) % 7 + 2;       /* MIN */
    case 4: return r != 3;                /* LAND */
    case 5: return r == 2;                /* LOR */
    case 6: return 0xff ^ (1 << r);       /* BAND */
    case 7: return 1 << r;                /* BOR */
    default: return (r + 1) * 3;          /* BXOR */
    }
}
static int expect_of(int k, int n)
{
    int e = in_of(k, 0);
    for (int r = 1; r < n; r++) {
        int x = in_of(k, r);
        switch (k) {
        case 0: e += x; break;
        case 1: e *= x; break;
        case 2: e = x > e ? x : e; break;
        case 3: e = x < e ? x : e; break;
        case 4: e = e && x; break;
        case 5: e = e || x; break;
        case 6: e &= x; break;
        case 7: e |= x; break;
        default: e ^= x; break;
        }
    }
    return e;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm W = MPI_COMM_WORLD;
    const MPI_Op ops[NOPS] = { MPI_SUM, MPI_PROD, MPI_MAX, MPI_MIN, MPI_LAND, MPI_LOR, MPI_BAND, MPI_BOR, MPI_BXOR };
    const char *names[NOPS] = { "SUM", "PROD", "MAX", "MIN", "LAND", "LOR", "BAND", "BOR", "BXOR" };
    int n = size, tri = size * (size + 1) / 2, i, r;
    int *a = malloc(64 * sizeof(int)), *b = malloc(64 * sizeof(int)), *c = malloc(64 * sizeof(int));
    int *cnts = malloc((size_t)n * sizeof(int)), *dsp = malloc((size_t)n * sizeof(int));
    int *rcnts = malloc((size_t)n * sizeof(int)), *rdsp = malloc((size_t)n * sizeof(int));
    if (rank == 0) printf("collectives: world size %d\n", size);

    /* barrier + bcast */
    MPI_Barrier(W);
    int bc[4] = { 0, 0, 0, 0 };
    double bd = 0.0;
    if (rank == n - 1) { bc[0] = 11; bc[1] = -22; bc[2] = 33; bc[3] = 44; }
    if (rank == 0) bd = 3.125;
    MPI_Bcast(bc, 4, MPI_INT, n - 1, W);
    MPI_Bcast(&bd, 1, MPI_DOUBLE, 0, W);
    CHECK(bc[0] == 11 && bc[1] == -22 && bc[2] == 33 && bc[3] == 44 && bd == 3.125, "bcast");
    if (rank == 0) printf("bcast: %d %d %d %d %.6f\n", bc[0], bc[1], bc[2], bc[3], bd);
    sync_checks("bcast");

    /* reduce / allreduce with every int op */
    for (int k = 0; k < NOPS; k++) {
        int x = in_of(k, rank), y = -7, z = -7, e = expect_of(k, n);
        MPI_Reduce(&x, &y, 1, MPI_INT, ops[k], 0, W);
        MPI_Allreduce(&x, &z, 1, MPI_INT, ops[k], W);
        CHECK(z == e && (rank != 0 || y == e), names[k]);
        if (rank == 0) printf("reduce int %s: %d\n", names[k], y);
    }
    double dx = rank + 0.5, dsum = 0, dmax = 0, dmax2 = 0;
    MPI_Reduce(&dx, &dsum, 1, MPI_DOUBLE, MPI_SUM, 0, W);
    dx = (rank % 3) * 1.25;
    MPI_Reduce(&dx, &dmax, 1, MPI_DOUBLE, MPI_MAX, 0, W);
    MPI_Allreduce(&dx, &dmax2, 1, MPI_DOUBLE, MPI_MAX, W);
    CHECK(dmax2 == (n >= 3 ? 2.5 : (n - 1) * 1.25), "allreduce double max");
    long long lx = (rank + 1) * 1000000007LL, lsum = 0;
    MPI_Reduce(&lx, &lsum, 1, MPI_LONG_LONG, MPI_SUM, 0, W);
    unsigned char ux[2] = { (unsigned char)(rank + 1), (unsigned char)(200 / n) }, usum[2] = { 0, 0 };
    MPI_Reduce(ux, usum, 2, MPI_UNSIGNED_CHAR, MPI_SUM, 0, W);
    if (rank == 0) {
        CHECK(dsum == n * n / 2.0 && dmax == dmax2, "reduce double");
        CHECK(lsum == 1000000007LL * tri, "reduce long long");
        CHECK(usum[0] == tri && usum[1] == (200 / n) * n, "reduce unsigned char");
        printf("reduce double SUM %.6f MAX %.6f\n", dsum, dmax);
        printf("reduce long long SUM %lld\n", lsum);
        printf("reduce unsigned char SUM %d %d\n", usum[0], usum[1]);
    }
    /* in-place variants */
    for (i = 0; i < 3; i++) a[i] = rank * (i + 1);
    MPI_Allreduce(MPI_IN_PLACE, a, 3, MPI_INT, MPI_SUM, W);
    for (i = 0; i < 3; i++) CHECK(a[i] == (i + 1) * (tri - n), "allreduce in_place");
    b[0] = rank + 100; b[1] = -rank;
    if (rank == 0) MPI_Reduce(MPI_IN_PLACE, b, 2, MPI_INT, MPI_MAX, 0, W);
    else MPI_Reduce(b, NULL, 2, MPI_INT, MPI_MAX, 0, W);
    if (rank == 0) {
        CHECK(b[0] == n + 99 && b[1] == 0, "reduce in_place");
        printf("allreduce in_place: %d %d %d; reduce in_place: %d %d\n", a[0], a[1], a[2], b[0], b[1]);
    }
    sync_checks("reduce");

    /* gather / gatherv / scatter / scatterv */
    int mine[2] = { rank, 10 * rank };
    MPI_Gather(mine, 2, MPI_INT, a, 2, MPI_INT, 0, W);
    if (rank == 0) { for (r = 0; r < n; r++) CHECK(a[2 * r] == r && a[2 * r + 1] == 10 * r, "gather"); print_ints("gather", a, 2 * n); }
    for (r = 0; r < n; r++) { cnts[r] = r + 1; dsp[r] = r * (r + 1) / 2; }
    for (i = 0; i <= rank; i++) b[i] = 100 * rank + i;
    MPI_Gatherv(b, rank + 1, MPI_INT, a, cnts, dsp, MPI_INT, 0, W);
    if (rank == 0) {
        for (r = 0; r < n; r++) for (i = 0; i <= r; i++) CHECK(a[dsp[r] + i] == 100 * r + i, "gatherv");
        print_ints("gatherv", a, tri);
    }
    for (i = 0; i < 2 * n; i++) a[i] = i * i;
    MPI_Scatter(a, 2, MPI_INT, c, 2, MPI_INT, 0, W);
    CHECK(c[0] == 4 * rank * rank && c[1] == (2 * rank + 1) * (2 * rank + 1), "scatter");
    for (i = 0; i < tri; i++) a[i] = 3 * i + 1;
    MPI_Scatterv(a, cnts, dsp, MPI_INT, c + 2, rank + 1, MPI_INT, 0, W);
    for (i = 0; i <= rank; i++) CHECK(c[2 + i] == 3 * (dsp[rank] + i) + 1, "scatterv");
    int sc = c[0] + c[1] + c[2 + rank];
    MPI_Gather(&sc, 1, MPI_INT, a, 1, MPI_INT, 0, W);
    if (rank == 0) print_ints("scatter+scatterv", a, n);
    sync_checks("gather/scatter");

    /* allgather / allgatherv */
    MPI_Allgather(mine, 2, MPI_INT, a, 2, MPI_INT, W);
    for (r = 0; r < n; r++) CHECK(a[2 * r] == r && a[2 * r + 1] == 10 * r, "allgather");
    MPI_Allgatherv(b, rank + 1, MPI_INT, a, cnts, dsp, MPI_INT, W);
    for (r = 0; r < n; r++) for (i = 0; i <= r; i++) CHECK(a[dsp[r] + i] == 100 * r + i, "allgatherv");
    if (rank == 0) print_ints("allgatherv", a, tri);
    sync_checks("allgather");

    /* alltoall / alltoallv: rank s sends to rank d the value(s) 1000*s+d */
    for (r = 0; r < n; r++) a[r] = 1000 * rank + r;
    MPI_Alltoall(a, 1, MPI_INT, c, 1, MPI_INT, W);
    for (r = 0; r < n; r++) CHECK(c[r] == 1000 * r + rank, "alltoall");
    /* alltoallv: send d+1 copies to rank d; receive rank+1 copies from everyone */
    int pos = 0;
    for (r = 0; r < n; r++) { cnts[r] = r + 1; dsp[r] = pos; for (i = 0; i <= r; i++) a[pos++] = 1000 * rank + r; }
    for (r = 0; r < n; r++) { rcnts[r] = rank + 1; rdsp[r] = r * (rank + 1); }
    MPI_Alltoallv(a, cnts, dsp, MPI_INT, c, rcnts, rdsp, MPI_INT, W);
    int s = 0;
    for (r = 0; r < n; r++) for (i = 0; i <= rank; i++) { CHECK(c[rdsp[r] + i] == 1000 * r + rank, "alltoallv"); s += c[rdsp[r] + i]; }
    MPI_Gather(&s, 1, MPI_INT, a, 1, MPI_INT, 0, W);
    if (rank == 0) print_ints("alltoallv sums", a, n);
    sync_checks("alltoall");

    /* reduce_scatter (rank r gets r+1 elements) and reduce_scatter_block (2 each) */
    for (r = 0; r < n; r++) cnts[r] = r + 1;
    for (i = 0; i < tri; i++) a[i] = rank + i;
    MPI_Reduce_scatter(a, c, cnts, MPI_INT, MPI_SUM, W);
    int base = rank * (rank + 1) / 2;
    for (i = 0; i <= rank; i++) CHECK(c[i] == (tri - n) + n * (base + i), "reduce_scatter");
    int rs1 = c[0];
    for (i = 0; i < 2 * n; i++) a[i] = (rank + 1) * i;
    MPI_Reduce_scatter_block(a, c, 2, MPI_INT, MPI_MAX, W);
    CHECK(c[0] == n * 2 * rank && c[1] == n * (2 * rank + 1), "reduce_scatter_block");
    int both[2] = { rs1, c[1] };
    MPI_Gather(both, 2, MPI_INT, a, 2, MPI_INT, 0, W);
    if (rank == 0) print_ints("reduce_scatter(_block)", a, 2 * n);
    sync_checks("reduce_scatter");

    /* scan / exscan */
    int sx[2] = { rank + 1, 1 << rank }, sy[2] = { -1, -1 }, ey[2] = { -99, -99 };
    MPI_Scan(sx, sy, 2, MPI_INT, MPI_SUM, W);
    CHECK(sy[0] == (rank + 1) * (rank + 2) / 2 && sy[1] == (1 << (rank + 1)) - 1, "scan");
    MPI_Exscan(sx, ey, 2, MPI_INT, MPI_SUM, W);
    if (rank > 0) CHECK(ey[0] == rank * (rank + 1) / 2 && ey[1] == (1 << rank) - 1, "exscan");
    else ey[0] = ey[1] = 0; /* undefined on rank 0 */
    int sc4[4] = { sy[0], sy[1], ey[0], ey[1] };
    MPI_Gather(sc4, 4, MPI_INT, a, 4, MPI_INT, 0, W);
    if (rank == 0) print_ints("scan/exscan", a, 4 * n);
    sync_checks("scan");

    if (rank == 0) { printf("OK collectives\n"); fflush(stdout); }
    free(a); free(b); free(c); free(cnts); free(dsp); free(rcnts); free(rdsp);
    MPI_Finalize();
    return 0;
}
