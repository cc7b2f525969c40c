/* Ping-pong between ranks 0 and 1: one-way latency (us) and bandwidth (MB/s) per message size.
 * Usage: pingpong [max_bytes] [reps_small]; prints "pingpong <bytes> <usec> <MB/s>" on rank 0. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long max_bytes = argc > 1 ? atol(argv[1]) : 4L << 20;
    int reps_small = argc > 2 ? atoi(argv[2]) : 20000;
    if (size < 2) {
        if (rank == 0) printf("pingpong needs 2 ranks\n");
        MPI_Finalize();
        return 1;
    }
    char *buf = malloc(max_bytes);
    memset(buf, rank + 1, max_bytes);
    for (long bytes = 8; bytes <= max_bytes; bytes *= 2) {
        int reps = bytes <= 4096 ? reps_small : (int)(reps_small * 4096 / bytes);
        if (reps < 50) reps = 50;
        double best = 1e30;
        for (int trial = 0; trial < 3; trial++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (int i = 0; i < reps; i++) {
                if (rank == 0) {
                    MPI_Send(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
                    MPI_Recv(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                } else if (rank == 1) {
                    MPI_Recv(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    MPI_Send(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
                }
            }
            double one_way = (MPI_Wtime() - t0) / (2.0 * reps);
            if (one_way < best) best = one_way;
        }
        if (rank == 0) printf("pingpong %ld %.3f %.1f\n", bytes, best * 1e6, bytes / best / 1e6);
    }
    free(buf);
    MPI_Finalize();
    return 0;
}
