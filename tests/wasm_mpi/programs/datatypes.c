/* datatypes.c - derived types (contiguous, vector column, indexed), commit/free,
 * size/extent, get_count/get_elements, and predefined types whose C size differs
 * between 32- and 64-bit targets (MPI_LONG, MPI_UNSIGNED_LONG, MPI_AINT), plus
 * MPI_INT64_T, MPI_UINT8_T, MPI_C_BOOL, MPI_BYTE and MPI_CHAR strings. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "check.h"
#define ROWS 6
#define COLS 5

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm W = MPI_COMM_WORLD;
    int right = (rank + 1) % size, left = (rank + size - 1) % size, i, j, cnt, sz;
    MPI_Aint lb, ext;
    MPI_Status st;
    if (rank == 0) printf("datatypes: world size %d\n", size);

    /* contiguous: 4 ints; send 2 of them to the right neighbour */
    MPI_Datatype quad;
    MPI_Type_contiguous(4, MPI_INT, &quad);
    MPI_Type_commit(&quad);
    MPI_Type_size(quad, &sz);
    MPI_Type_get_extent(quad, &lb, &ext);
    CHECK(sz == 16 && lb == 0 && ext == 16, "contiguous size/extent");
    int cs[8], cr[8];
    for (i = 0; i < 8; i++) { cs[i] = rank * 100 + i; cr[i] = -1; }
    MPI_Sendrecv(cs, 2, quad, right, 1, cr, 2, quad, left, 1, W, &st);
    MPI_Get_count(&st, quad, &cnt);
    CHECK(cnt == 2, "contiguous get_count");
    for (i = 0; i < 8; i++) CHECK(cr[i] == left * 100 + i, "contiguous data");
    if (rank == 0) printf("contiguous: size %d extent %ld count %d first %d last %d\n", sz, (long)ext, cnt, cr[0], cr[7]);
    MPI_Type_free(&quad);
    CHECK(quad == MPI_DATATYPE_NULL, "type_free nulls handle");
    sync_checks("contiguous");

    /* vector: column c of a ROWSxCOLS row-major double matrix */
    MPI_Datatype col;
    MPI_Type_vector(ROWS, 1, COLS, MPI_DOUBLE, &col);
    MPI_Type_commit(&col);
    MPI_Type_size(col, &sz);
    MPI_Type_get_extent(col, &lb, &ext);
    CHECK(sz == ROWS * 8 && lb == 0 && ext == ((ROWS - 1) * COLS + 1) * 8, "vector size/extent");
    double m[ROWS][COLS], colbuf[ROWS], m2[ROWS][COLS];
    for (i = 0; i < ROWS; i++) for (j = 0; j < COLS; j++) { m[i][j] = rank * 1000 + i * 10 + j; m2[i][j] = -1.0; }
    int c = rank % COLS, lc = left % COLS;
    /* column -> contiguous doubles */
    MPI_Sendrecv(&m[0][c], 1, col, right, 2, colbuf, ROWS, MPI_DOUBLE, left, 2, W, &st);
    MPI_Get_count(&st, MPI_DOUBLE, &cnt);
    CHECK(cnt == ROWS, "vector->double count");
    for (i = 0; i < ROWS; i++) CHECK(colbuf[i] == left * 1000 + i * 10 + lc, "vector->double data");
    /* contiguous doubles -> column of another matrix (column 1) */
    MPI_Sendrecv(colbuf, ROWS, MPI_DOUBLE, left, 3, &m2[0][1], 1, col, right, 3, W, &st);
    MPI_Get_count(&st, col, &cnt);
    CHECK(cnt == 1, "double->vector count");
    double csum = 0;
    for (i = 0; i < ROWS; i++) for (j = 0; j < COLS; j++) {
        if (j == 1) { CHECK(m2[i][j] == rank * 1000 + i * 10 + c, "double->vector data"); csum += m2[i][j]; }
        else CHECK(m2[i][j] == -1.0, "vector must not touch other columns");
    }
    if (rank == 0) printf("vector: size %d extent %ld column sum %.6f\n", sz, (long)ext, csum);
    MPI_Type_free(&col);
    sync_checks("vector");

    /* indexed: blocks {2,1,3} at {0,4,7} of int */
    MPI_Datatype idx;
    int bl[3] = { 2, 1, 3 }, dp[3] = { 0, 4, 7 };
    MPI_Type_indexed(3, bl, dp, MPI_INT, &idx);
    MPI_Type_commit(&idx);
    MPI_Type_size(idx, &sz);
    MPI_Type_get_extent(idx, &lb, &ext);
    CHECK(sz == 24 && lb == 0 && ext == 40, "indexed size/extent");
    int is[10], ir[20], el = -1;
    for (i = 0; i < 10; i++) is[i] = rank * 10 + i;
    for (i = 0; i < 20; i++) ir[i] = -1;
    MPI_Sendrecv(is, 1, idx, right, 4, ir, 6, MPI_INT, left, 4, W, &st);
    MPI_Get_count(&st, MPI_INT, &cnt);
    CHECK(cnt == 6, "indexed->int count");
    int want[6] = { 0, 1, 4, 7, 8, 9 };
    for (i = 0; i < 6; i++) CHECK(ir[i] == left * 10 + want[i], "indexed->int data");
    /* partial receive into the indexed type: 4 ints -> count UNDEFINED, elements 4 */
    for (i = 0; i < 20; i++) ir[i] = -1;
    MPI_Sendrecv(is, 4, MPI_INT, right, 5, ir, 2, idx, left, 5, W, &st);
    MPI_Get_count(&st, idx, &cnt);
    MPI_Get_elements(&st, idx, &el);
    CHECK(cnt == MPI_UNDEFINED && el == 4, "indexed partial count/elements");
    CHECK(ir[0] == left * 10 && ir[1] == left * 10 + 1 && ir[2] == -1 && ir[4] == left * 10 + 2 && ir[7] == left * 10 + 3, "indexed scatter");
    MPI_Sendrecv(is, 6, MPI_INT, right, 6, ir, 2, idx, left, 6, W, &st);
    int cnt1 = -1, el1 = -1;
    MPI_Get_count(&st, idx, &cnt1);
    MPI_Get_elements(&st, idx, &el1);
    CHECK(cnt1 == 1 && el1 == 6, "indexed full count/elements");
    if (rank == 0) printf("indexed: size %d extent %ld partial count %s elements %d; full count %d elements %d\n",
                          sz, (long)ext, cnt == MPI_UNDEFINED ? "UNDEFINED" : "defined", el, cnt1, el1);
    MPI_Type_free(&idx);
    sync_checks("indexed");

    /* long / unsigned long / MPI_Aint: send around the ring and reduce (< 2^31) */
    long lv[2] = { 100000L * rank + 1, -(long)(rank + 1) * 37500000L }, lr[2] = { 0, 0 }, lsum[2];
    unsigned long uv = 250000000UL + (unsigned long)rank, ur = 0, umax = 0;
    MPI_Aint av = (MPI_Aint)(rank + 1) * 25000000, ar = 0, asum = 0;
    MPI_Sendrecv(lv, 2, MPI_LONG, right, 7, lr, 2, MPI_LONG, left, 7, W, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&uv, 1, MPI_UNSIGNED_LONG, right, 8, &ur, 1, MPI_UNSIGNED_LONG, left, 8, W, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&av, 1, MPI_AINT, right, 9, &ar, 1, MPI_AINT, left, 9, W, MPI_STATUS_IGNORE);
    CHECK(lr[0] == 100000L * left + 1 && lr[1] == -(long)(left + 1) * 37500000L, "long sendrecv");
    CHECK(ur == 250000000UL + (unsigned long)left && ar == (MPI_Aint)(left + 1) * 25000000, "ulong/aint sendrecv");
    MPI_Allreduce(lv, lsum, 2, MPI_LONG, MPI_SUM, W);
    MPI_Allreduce(&uv, &umax, 1, MPI_UNSIGNED_LONG, MPI_MAX, W);
    MPI_Allreduce(&av, &asum, 1, MPI_AINT, MPI_SUM, W);
    long tri = (long)size * (size + 1) / 2;
    CHECK(lsum[0] == 100000L * (tri - size) + size && lsum[1] == -tri * 37500000L, "long allreduce");
    CHECK(umax == 250000000UL + (unsigned long)(size - 1) && asum == (MPI_Aint)tri * 25000000, "ulong/aint allreduce");
    if (rank == 0) printf("long sum %ld %ld, unsigned long max %lu, aint sum %ld\n",
                          (long)lsum[0], (long)lsum[1], (unsigned long)umax, (long)asum);
    sync_checks("long/aint");

    /* fixed-width types */
    int64_t iv = ((int64_t)1 << 40) + rank, isum = 0;
    uint8_t bv[3] = { (uint8_t)(rank * 30), (uint8_t)(255 - rank), (uint8_t)rank }, bmax[3];
    MPI_Allreduce(&iv, &isum, 1, MPI_INT64_T, MPI_SUM, W);
    MPI_Allreduce(bv, bmax, 3, MPI_UINT8_T, MPI_MAX, W);
    CHECK(isum == ((int64_t)size << 40) + (tri - size), "int64 allreduce");
    CHECK(bmax[0] == (size - 1) * 30 && bmax[1] == 255 && bmax[2] == size - 1, "uint8 allreduce");
    if (rank == 0) printf("int64 sum %lld, uint8 max %d %d %d\n", (long long)isum, bmax[0], bmax[1], bmax[2]);
#ifdef MPI_C_BOOL
    _Bool bo[2] = { rank != 1, rank == size - 1 }, band[2], bor[2];
    MPI_Allreduce(bo, band, 2, MPI_C_BOOL, MPI_LAND, W);
    MPI_Allreduce(bo, bor, 2, MPI_C_BOOL, MPI_LOR, W);
    CHECK(band[0] == (size < 2) && band[1] == (size == 1) && bor[0] == 1 && bor[1] == 1, "c_bool");
    if (rank == 0) printf("c_bool land %d %d lor %d %d\n", band[0], band[1], bor[0], bor[1]);
#else
    if (rank == 0) printf("skip c_bool (MPI_C_BOOL not defined by mpi.h)\n");
#endif
    sync_checks("fixed width");

    /* MPI_BYTE: raw bytes of an int array; MPI_CHAR: strings gathered on rank 0 */
    unsigned char bs[32], br[32];
    for (i = 0; i < 32; i++) bs[i] = (unsigned char)(rank * 32 + i * 7);
    MPI_Sendrecv(bs, 32, MPI_BYTE, right, 10, br, 32, MPI_BYTE, left, 10, W, &st);
    MPI_Get_count(&st, MPI_BYTE, &cnt);
    CHECK(cnt == 32, "byte count");
    for (i = 0; i < 32; i++) CHECK(br[i] == (unsigned char)(left * 32 + i * 7), "byte data");
    char msg[64];
    snprintf(msg, sizeof msg, "greetings from rank %d of %d", rank, size);
    if (rank == 0) {
        printf("%s\n", msg);
        for (int r = 1; r < size; r++) {
            char got[64], want_s[64];
            MPI_Recv(got, 64, MPI_CHAR, r, 11, W, &st);
            MPI_Get_count(&st, MPI_CHAR, &cnt);
            snprintf(want_s, sizeof want_s, "greetings from rank %d of %d", r, size);
            CHECK(cnt == (int)strlen(want_s) + 1 && strcmp(got, want_s) == 0, "char string");
            printf("%s (%d chars)\n", got, cnt);
        }
    } else {
        MPI_Send(msg, (int)strlen(msg) + 1, MPI_CHAR, 0, 11, W);
    }
    sync_checks("byte/char");

    if (rank == 0) { printf("OK datatypes\n"); fflush(stdout); }
    MPI_Finalize();
    return 0;
}
