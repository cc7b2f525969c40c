/* Host-call cost: calls the `tessera.noop` import N times (default 10^6) and prints ns/call. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
__attribute__((import_module("tessera"), import_name("noop"))) int tessera_noop(int);
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int acc = 0;
    double t0 = MPI_Wtime();
    for (long i = 0; i < n; i++) acc += tessera_noop((int)i);
    double dt = MPI_Wtime() - t0;
    printf("hostcall %ld %.1f %d\n", n, dt / n * 1e9, acc != 0);
    MPI_Finalize();
    return 0;
}
