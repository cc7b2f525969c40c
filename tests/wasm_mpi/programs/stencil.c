/* stencil.c - 1-D periodic heat equation, N=4096 doubles block-distributed,
 * 50 iterations, halo exchange with MPI_Sendrecv, global residual (max norm)
 * with MPI_Allreduce, field collected with MPI_Gatherv. Every printed number
 * is independent of the rank count: each point is updated with the same
 * floating-point operations in any decomposition, the residual uses MPI_MAX
 * (exact), and the checksum is summed on rank 0 in index order. Rank 0 also
 * recomputes the whole run serially and requires a bit-identical field. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 4096
#define ITERS 50

#include "check.h"
static double init_value(int i)
{
    return (i % 512 < 64) ? 1000.0 : (double)(i % 7);
}
/* (a + 2b + c) / 4: 2*b and *0.25 are exact, so FMA contraction cannot change it */
static double update(double a, double b, double c)
{
    return (a + 2.0 * b + c) * 0.25;
}
static double absd(double x) { return x < 0 ? -x : x; }

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm W = MPI_COMM_WORLD;
    int left = (rank + size - 1) % size, right = (rank + 1) % size, i, r, it;

    /* block distribution with remainder on the first ranks */
    int *cnts = malloc((size_t)size * sizeof(int)), *dsp = malloc((size_t)size * sizeof(int));
    for (r = 0, i = 0; r < size; r++) { cnts[r] = N / size + (r < N % size); dsp[r] = i; i += cnts[r]; }
    int n = cnts[rank], off = dsp[rank];
    double *u = malloc((size_t)(n + 2) * sizeof(double)), *un = malloc((size_t)(n + 2) * sizeof(double));
    for (i = 0; i < n; i++) u[i + 1] = init_value(off + i);
    if (rank == 0) printf("stencil: world size %d, N %d, iterations %d\n", size, N, ITERS);

    for (it = 1; it <= ITERS; it++) {
        /* halo exchange: my first cell goes left, my last cell goes right */
        MPI_Sendrecv(&u[1], 1, MPI_DOUBLE, left, 1, &u[n + 1], 1, MPI_DOUBLE, right, 1, W, MPI_STATUS_IGNORE);
        MPI_Sendrecv(&u[n], 1, MPI_DOUBLE, right, 2, &u[0], 1, MPI_DOUBLE, left, 2, W, MPI_STATUS_IGNORE);
        double res = 0.0, gres = -1.0;
        for (i = 1; i <= n; i++) {
            un[i] = update(u[i - 1], u[i], u[i + 1]);
            double d = absd(un[i] - u[i]);
            if (d > res) res = d;
        }
        double *t = u; u = un; un = t;
        MPI_Allreduce(&res, &gres, 1, MPI_DOUBLE, MPI_MAX, W);
        CHECK(gres >= 0.0 && gres >= res, "residual allreduce");
        if (rank == 0 && (it == 1 || it % 10 == 0)) printf("iter %d residual %.6f\n", it, gres);
    }
    sync_checks("iterate");

    /* collect the field on rank 0 in global index order */
    double *field = NULL;
    if (rank == 0) field = malloc(N * sizeof(double));
    MPI_Gatherv(&u[1], n, MPI_DOUBLE, field, cnts, dsp, MPI_DOUBLE, 0, W);
    if (rank == 0) {
        double sum = 0.0, init_sum = 0.0, mx = field[0], mn = field[0];
        for (i = 0; i < N; i++) {
            sum += field[i];
            init_sum += init_value(i);
            if (field[i] > mx) mx = field[i];
            if (field[i] < mn) mn = field[i];
        }
        /* serial reference, bit for bit */
        double *a = malloc(N * sizeof(double)), *b = malloc(N * sizeof(double));
        for (i = 0; i < N; i++) a[i] = init_value(i);
        for (it = 0; it < ITERS; it++) {
            for (i = 0; i < N; i++) b[i] = update(a[(i + N - 1) % N], a[i], a[(i + 1) % N]);
            double *t = a; a = b; b = t;
        }
        CHECK(memcmp(a, field, N * sizeof(double)) == 0, "distributed field differs from serial reference");
        CHECK(absd(sum - init_sum) < 1e-6, "heat not conserved");
        printf("checksum %.6f (initial %.6f)\n", sum, init_sum);
        printf("min %.6f max %.6f\n", mn, mx);
        printf("u[0] %.6f u[%d] %.6f u[%d] %.6f\n", field[0], N / 2 + 37, field[N / 2 + 37], N - 1, field[N - 1]);
        free(a); free(b); free(field);
    }
    sync_checks("checksum");

    if (rank == 0) { printf("OK stencil\n"); fflush(stdout); }
    free(u); free(un); free(cnts); free(dsp);
    MPI_Finalize();
    return 0;
}
