/* Hostile: sends from (and receives into) an address far outside the guest's memory. */
#include <mpi.h>
#include <stdint.h>
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char *far = (char *)(uintptr_t)0xFFFFF000u;
    if (rank == 0) MPI_Send(far, 1 << 20, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
    else if (rank == 1) MPI_Recv(far, 1 << 20, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Finalize();
    return 0;
}
