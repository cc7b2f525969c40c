/* check.h - the self-check helpers every conformance program shares (included as "check.h",
 * so the program builds unchanged with mpicc and with tessera wasm cc).
 * CHECK records the first failed condition on this rank; sync_checks ends a section: if any
 * rank failed, rank 0 prints "FAIL <section>: <what>" and the job aborts. */
#ifndef TESSERA_CONFORMANCE_CHECK_H
#define TESSERA_CONFORMANCE_CHECK_H
#include <mpi.h>
#include <stdio.h>

static int rank, size, nfail;
static const char *firstfail;
#define CHECK(c, w) do { if (!(c)) { if (!nfail++) firstfail = (w); } } while (0)
static void sync_checks(const char *sec)
{
    int g = 0;
    MPI_Allreduce(&nfail, &g, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (g) {
        if (rank == 0) { printf("FAIL %s: %s\n", sec, nfail ? firstfail : "check failed on another rank"); fflush(stdout); }
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

#endif
