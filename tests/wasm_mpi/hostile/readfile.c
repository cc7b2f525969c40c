/* Reads the file named by argv[1] and prints its first line, or "cannot open" (WASI preopens:
 * nothing is reachable unless `--dir` grants it). */
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    FILE *f = argc > 1 ? fopen(argv[1], "r") : NULL;
    char line[128] = "";
    if (!f) {
        printf("cannot open %s\n", argc > 1 ? argv[1] : "(nothing)");
    } else {
        if (!fgets(line, sizeof line, f)) line[0] = 0;
        printf("read: %s", line);
        fclose(f);
    }
    MPI_Finalize();
    return 0;
}
