/* hello.c - MPI environment basics: init/finalize state, rank/size,
 * processor name (not printed), timers (not printed), version.
 * Output comes only from rank 0 and depends only on the rank count. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

int main(int argc, char **argv)
{
    int flag = -1, pre_init = -1, pre_fin = -1;
    MPI_Initialized(&pre_init);
    MPI_Finalized(&pre_fin);
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK(pre_init == 0, "MPI_Initialized before MPI_Init");
    CHECK(pre_fin == 0, "MPI_Finalized before MPI_Init");
    MPI_Initialized(&flag);
    CHECK(flag == 1, "MPI_Initialized after MPI_Init");
    CHECK(size >= 1 && rank >= 0 && rank < size, "rank/size range");
    sync_checks("init");

    /* processor name: checked, never printed */
    char name[MPI_MAX_PROCESSOR_NAME];
    int len = -1;
    memset(name, 0x7f, sizeof name);
    MPI_Get_processor_name(name, &len);
    CHECK(len > 0 && len < MPI_MAX_PROCESSOR_NAME, "processor name length");
    CHECK(len >= 0 && len < MPI_MAX_PROCESSOR_NAME && (int)strlen(name) == len,
          "processor name NUL-terminated at len");
    sync_checks("processor_name");

    /* timers: checked, never printed */
    double t0 = MPI_Wtime();
    double tick = MPI_Wtick();
    volatile double acc = 0.0;
    for (int i = 0; i < 100000; i++) acc += (double)i;
    double t1 = MPI_Wtime();
    CHECK(t0 > 0.0, "MPI_Wtime > 0");
    CHECK(tick > 0.0 && tick < 1.0, "MPI_Wtick in (0,1)");
    CHECK(t1 >= t0, "MPI_Wtime monotonic");
    CHECK(acc == 4999950000.0, "busy loop");
    sync_checks("wtime");

    /* version */
    int ver = -1, subver = -1;
    MPI_Get_version(&ver, &subver);
    CHECK(ver >= 3 && subver >= 0, "MPI_Get_version >= 3");
    CHECK(ver == MPI_VERSION && subver == MPI_SUBVERSION, "MPI_Get_version matches mpi.h");
    sync_checks("version");

    /* gather one int per rank (rank*rank+1) and let rank 0 print in order */
    int mine[2] = { rank, rank * rank + 1 };
    int *all = malloc(2 * (size_t)size * sizeof(int));
    MPI_Gather(mine, 2, MPI_INT, all, 2, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("hello: world size %d\n", size);
        printf("MPI version >= 3: %s\n", ver >= 3 ? "yes" : "no");
        for (int r = 0; r < size; r++) {
            CHECK(all[2 * r] == r && all[2 * r + 1] == r * r + 1, "gathered hello");
            printf("hello from rank %d of %d (value %d)\n", all[2 * r], size, all[2 * r + 1]);
        }
    }
    free(all);
    sync_checks("gather");

    int fin_before = -1;
    MPI_Finalized(&fin_before);
    CHECK(fin_before == 0, "MPI_Finalized before MPI_Finalize");
    sync_checks("finalized");
    fflush(stdout);
    MPI_Finalize();

    int fin_after = -1, init_after = -1;
    MPI_Finalized(&fin_after);
    MPI_Initialized(&init_after);
    if (rank == 0) {
        if (fin_after != 1 || init_after != 1) {
            printf("FAIL MPI_Finalized/MPI_Initialized after MPI_Finalize\n");
            return 1;
        }
        printf("finalized %d initialized %d\n", fin_after, init_after);
        printf("OK hello\n");
        fflush(stdout);
    }
    return 0;
}
