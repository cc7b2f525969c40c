/* SIMD-friendly compute kernels with no MPI on the hot path, each timed (best of reps):
 *   matmul  single-precision n x n matrix multiply, naive i-k-j order (compute-bound)
 *   mmtile  the same product register-blocked: a 4 x 8 tile of c kept in locals over the
 *           whole k loop (how a tuned kernel is written; n must be a multiple of 8)
 *   stencil 5-point Jacobi sweep on an n x n float grid (mixed)
 *   saxpy   y += a * x over 4M floats (memory-bound)
 *   idot    int32 dot product over 4M elements (integer reduction)
 * Prints "simd <kernel> <seconds> <checksum>" on rank 0; the checksums must agree between
 * native and wasm builds (the benchmark driver checks they do). */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BIG (1 << 22)

static void matmul(int n, const float *a, const float *b, float *c) {
    for (int i = 0; i < n * n; i++) c[i] = 0.0f;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            float aik = a[i * n + k];
            for (int j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
        }
}

static void mmtile(int n, const float *a, const float *b, float *c) {
    for (int i = 0; i < n; i += 4)
        for (int j = 0; j < n; j += 8) {
            float t[4][8] = {{0}};
            for (int k = 0; k < n; k++) {
                const float *bk = b + k * n + j;
                for (int r = 0; r < 4; r++) {
                    float ar = a[(i + r) * n + k];
                    for (int s = 0; s < 8; s++) t[r][s] += ar * bk[s];
                }
            }
            for (int r = 0; r < 4; r++)
                for (int s = 0; s < 8; s++) c[(i + r) * n + j + s] = t[r][s];
        }
}

static void stencil(int n, const float *u, float *v) {
    for (int i = 1; i < n - 1; i++)
        for (int j = 1; j < n - 1; j++)
            v[i * n + j] = 0.25f * (u[(i - 1) * n + j] + u[(i + 1) * n + j] + u[i * n + j - 1] +
                                    u[i * n + j + 1]);
}

static void saxpy(int n, float a, const float *x, float *y) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static int64_t idot(int n, const int32_t *x, const int32_t *y) {
    int32_t acc = 0; /* wraps identically on both targets */
    for (int i = 0; i < n; i++) acc += x[i] * y[i];
    return acc;
}

typedef struct { double best; double check; } result;

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    int n = 384, g = 1024;
    float *a = malloc(sizeof(float) * BIG), *b = malloc(sizeof(float) * BIG);
    float *c = malloc(sizeof(float) * BIG);
    int32_t *ia = malloc(sizeof(int32_t) * BIG), *ib = malloc(sizeof(int32_t) * BIG);
    for (int i = 0; i < BIG; i++) {
        a[i] = (float)((i * 7) % 13) * 0.25f;
        b[i] = (float)((i * 5) % 11) * 0.5f;
        c[i] = 0.0f;
        ia[i] = (i * 3) % 17 - 8;
        ib[i] = (i * 11) % 23 - 11;
    }
    const char *names[5] = {"matmul", "mmtile", "stencil", "saxpy", "idot"};
    for (int kern = 0; kern < 5; kern++) {
        double best = 1e30, check = 0.0;
        for (int r = 0; r < reps; r++) {
            double t0 = MPI_Wtime();
            if (kern == 0) matmul(n, a, b, c);
            else if (kern == 1) mmtile(n, a, b, c);
            else if (kern == 2) stencil(g, a, c);
            else if (kern == 3) saxpy(BIG, 0.5f, a, c);
            else check = (double)idot(BIG, ia, ib);
            double t = MPI_Wtime() - t0;
            if (t < best) best = t;
        }
        if (kern <= 1) { for (int i = 0; i < n * n; i++) check += c[i]; }
        else if (kern == 2) { for (int i = 0; i < g * g; i++) check += c[i]; }
        else if (kern == 3) { for (int i = 0; i < BIG; i += 97) check += c[i]; }
        if (rank == 0) printf("simd %s %.6f %.1f\n", names[kern], best, check);
    }
    free(a); free(b); free(c); free(ia); free(ib);
    MPI_Finalize();
    return 0;
}
