/* MPI_Allreduce (SUM of doubles) latency per element count; prints "allreduce <count> <usec>". */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int max_count = argc > 1 ? atoi(argv[1]) : 1 << 17;
    int reps_small = argc > 2 ? atoi(argv[2]) : 5000;
    double *in = malloc(sizeof(double) * max_count), *out = malloc(sizeof(double) * max_count);
    for (int i = 0; i < max_count; i++) in[i] = rank + i * 1e-3;
    for (int count = 1; count <= max_count; count *= 8) {
        int reps = count <= 512 ? reps_small : (int)((long)reps_small * 512 / count);
        if (reps < 20) reps = 20;
        double best = 1e30;
        for (int trial = 0; trial < 3; trial++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (int i = 0; i < reps; i++)
                MPI_Allreduce(in, out, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            double t = (MPI_Wtime() - t0) / reps;
            MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (t < best) best = t;
        }
        if (rank == 0) printf("allreduce %d %.3f\n", count, best * 1e6);
    }
    free(in);
    free(out);
    MPI_Finalize();
    return 0;
}
