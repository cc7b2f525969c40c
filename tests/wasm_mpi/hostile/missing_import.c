/* Hostile: imports an MPI function Tessera's mpi.h does not declare. */
#include <mpi.h>
__attribute__((import_module("mpi"), import_name("MPI_Win_create"))) int MPI_Win_create(void);
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Win_create();
    MPI_Finalize();
    return 0;
}
