/* Hostile: buffers whose reach is computed, not passed: a Gatherv displacement of 2^29
 * doubles ("displ"), or a datatype with a negative extent walking from address 16 to
 * below address 0 ("negext"). Both must be refused before MPI touches memory. */
#include <mpi.h>
#include <stdint.h>
#include <string.h>
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    static double small[8];
    if (argc > 1 && strcmp(argv[1], "displ") == 0) {
        int counts[64], displs[64];
        for (int i = 0; i < size; i++) { counts[i] = 1; displs[i] = i == 0 ? 1 << 29 : i; }
        MPI_Gatherv(small, 1, MPI_DOUBLE, small, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    } else {
        MPI_Datatype back, t;
        MPI_Type_contiguous(100, MPI_BYTE, &back);
        MPI_Type_create_resized(back, 0, -1, &t);
        MPI_Type_commit(&t);
        char *low = (char *)(uintptr_t)16; /* 50 items stepping back 1 byte: down to -33 */
        if (rank == 0) MPI_Send(low, 50, t, 1 % size, 0, MPI_COMM_WORLD);
        if (rank == 1 % size) MPI_Recv(low, 50, t, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    MPI_Finalize();
    return 0;
}
