/* minmaxloc.c - MPI_MAXLOC / MPI_MINLOC on MPI_2INT, MPI_DOUBLE_INT,
 * MPI_FLOAT_INT and MPI_LONG_INT (long values fit in 32 bits), with
 * MPI_Reduce and MPI_Allreduce; ties must resolve to the lower rank. */
#include <mpi.h>
#include <stdio.h>

#include "check.h"

typedef struct { int val; int loc; } int_int;
typedef struct { double val; int loc; } double_int;
typedef struct { float val; int loc; } float_int;
typedef struct { long val; int loc; } long_int;

#define NV 3
/* three value patterns per rank, each with ties */
static int pattern(int k, int r)
{
    switch (k) {
    case 0: return (r * 5) % 7 - 3;   /* -3 2 0 -2 3 1 -1 -3 : min ties at 0 and 7 */
    case 1: return r / 2;             /* 0 0 1 1 2 2 3 3   : max ties in pairs */
    default: return 4;                /* all equal: both must give rank 0 */
    }
}
/* expected (value, location) over ranks 0..n-1 with lowest-rank tie break */
static void expect(int k, int n, int want_max, int *val, int *loc)
{
    *val = pattern(k, 0); *loc = 0;
    for (int r = 1; r < n; r++) {
        int v = pattern(k, r);
        if (want_max ? v > *val : v < *val) { *val = v; *loc = r; }
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm W = MPI_COMM_WORLD;
    if (rank == 0) printf("minmaxloc: world size %d\n", size);

    for (int mx = 0; mx < 2; mx++) {
        MPI_Op op = mx ? MPI_MAXLOC : MPI_MINLOC;
        const char *on = mx ? "MAXLOC" : "MINLOC";
        int_int ii[NV], iio[NV], iia[NV];
        double_int di[NV], dio[NV], dia[NV];
        float_int fi[NV], fio[NV], fia[NV];
        long_int li[NV], lio[NV], lia[NV];
        for (int k = 0; k < NV; k++) {
            int p = pattern(k, rank);
            ii[k].val = 1000 * p + 7;                 ii[k].loc = rank;
            di[k].val = p * 0.5 - 0.25;               di[k].loc = rank;
            fi[k].val = (float)(p * 2.5f);            fi[k].loc = rank;
            li[k].val = 2000000000L - 1000L * (10 - p); li[k].loc = rank;
            if (k == 2) li[k].val = -2000000000L;     /* large negative, still 32-bit */
            iio[k].val = iia[k].val = -1; iio[k].loc = iia[k].loc = -1;
        }
        MPI_Reduce(ii, iio, NV, MPI_2INT, op, 0, W);
        MPI_Allreduce(ii, iia, NV, MPI_2INT, op, W);
        MPI_Reduce(di, dio, NV, MPI_DOUBLE_INT, op, 0, W);
        MPI_Allreduce(di, dia, NV, MPI_DOUBLE_INT, op, W);
        MPI_Reduce(fi, fio, NV, MPI_FLOAT_INT, op, 0, W);
        MPI_Allreduce(fi, fia, NV, MPI_FLOAT_INT, op, W);
        MPI_Reduce(li, lio, NV, MPI_LONG_INT, op, 0, W);
        MPI_Allreduce(li, lia, NV, MPI_LONG_INT, op, W);

        for (int k = 0; k < NV; k++) {
            int ev, el;
            expect(k, size, mx, &ev, &el);
            long elv = (k == 2) ? -2000000000L : 2000000000L - 1000L * (10 - ev);
            CHECK(iia[k].val == 1000 * ev + 7 && iia[k].loc == el, "allreduce 2INT");
            CHECK(dia[k].val == ev * 0.5 - 0.25 && dia[k].loc == el, "allreduce DOUBLE_INT");
            CHECK(fia[k].val == (float)(ev * 2.5f) && fia[k].loc == el, "allreduce FLOAT_INT");
            CHECK(lia[k].val == elv && lia[k].loc == el, "allreduce LONG_INT");
            if (rank == 0) {
                CHECK(iio[k].val == iia[k].val && iio[k].loc == el, "reduce 2INT");
                CHECK(dio[k].val == dia[k].val && dio[k].loc == el, "reduce DOUBLE_INT");
                CHECK(fio[k].val == fia[k].val && fio[k].loc == el, "reduce FLOAT_INT");
                CHECK(lio[k].val == elv && lio[k].loc == el, "reduce LONG_INT");
                printf("%s pattern %d: 2INT (%d,%d) DOUBLE_INT (%.6f,%d) FLOAT_INT (%.6f,%d) LONG_INT (%ld,%d)\n",
                       on, k, iio[k].val, iio[k].loc, dio[k].val, dio[k].loc,
                       (double)fio[k].val, fio[k].loc, (long)lio[k].val, lio[k].loc);
            }
        }
        sync_checks(on);
    }

    /* location values other than the rank: MAXLOC over (value, 100 - rank);
     * ties resolve to the smaller location index, i.e. the HIGHER rank here */
    int_int t = { rank / 2, 100 - rank }, tr = { -1, -1 };
    MPI_Allreduce(&t, &tr, 1, MPI_2INT, MPI_MAXLOC, W);
    int ev = (size - 1) / 2;
    int el = 100 - ((2 * ev + 1 < size) ? 2 * ev + 1 : 2 * ev);
    CHECK(tr.val == ev && tr.loc == el, "maxloc tie on smaller index");
    if (rank == 0) printf("MAXLOC custom index: (%d,%d)\n", tr.val, tr.loc);
    sync_checks("custom index");

    if (rank == 0) { printf("OK minmaxloc\n"); fflush(stdout); }
    MPI_Finalize();
    return 0;
}
