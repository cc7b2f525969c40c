/* p2p.c - point-to-point: blocking ring, sendrecv(_replace), nonblocking
 * wait/waitall/waitany/test/testall, wildcards, PROC_NULL, probe/iprobe,
 * 1 MiB message with checksum, synchronous send. Rank 0 prints. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#include "check.h"
static uint32_t checksum(const unsigned char *b, int n)
{
    uint32_t s1 = 1, s2 = 0; /* adler-32 */
    for (int i = 0; i < n; i++) { s1 = (s1 + b[i]) % 65521u; s2 = (s2 + s1) % 65521u; }
    return (s2 << 16) | s1;
}
/* gather one int per rank to rank 0 and print it as "label: v0 v1 ..." */
static void print_all(const char *label, int v)
{
    int *all = malloc((size_t)size * sizeof(int));
    MPI_Gather(&v, 1, MPI_INT, all, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("%s:", label);
        for (int r = 0; r < size; r++) printf(" %d", all[r]);
        printf("\n");
    }
    free(all);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm W = MPI_COMM_WORLD;
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    MPI_Status st;
    if (rank == 0) printf("p2p: world size %d\n", size);

    /* 1. token ring with MPI_Send/MPI_Recv (int and double) */
    if (size >= 2) {
        int ti = 0; double td = 0.0;
        if (rank == 0) {
            ti = 1; td = 0.5;
            MPI_Send(&ti, 1, MPI_INT, right, 1, W);
            MPI_Send(&td, 1, MPI_DOUBLE, right, 2, W);
            MPI_Recv(&ti, 1, MPI_INT, left, 1, W, &st);
            MPI_Recv(&td, 1, MPI_DOUBLE, left, 2, W, MPI_STATUS_IGNORE);
            CHECK(st.MPI_SOURCE == left && st.MPI_TAG == 1, "ring status");
            CHECK(ti == 1 + size * (size - 1) / 2 && td == 0.5 + 1.5 * (size - 1), "ring values");
            printf("ring: int %d double %.6f\n", ti, td);
        } else {
            MPI_Recv(&ti, 1, MPI_INT, left, 1, W, MPI_STATUS_IGNORE);
            MPI_Recv(&td, 1, MPI_DOUBLE, left, 2, W, MPI_STATUS_IGNORE);
            ti += rank; td += 1.5;
            MPI_Send(&ti, 1, MPI_INT, right, 1, W);
            MPI_Send(&td, 1, MPI_DOUBLE, right, 2, W);
        }
    } else if (rank == 0) printf("skip ring (needs 2 ranks)\n");
    sync_checks("ring");

    /* 2. MPI_Sendrecv and MPI_Sendrecv_replace (works with size 1: self) */
    int sv = rank * 10 + 3, rv = -1;
    MPI_Sendrecv(&sv, 1, MPI_INT, right, 3, &rv, 1, MPI_INT, left, 3, W, &st);
    CHECK(rv == left * 10 + 3 && st.MPI_SOURCE == left && st.MPI_TAG == 3, "sendrecv");
    print_all("sendrecv", rv);
    int rep[3] = { rank, 2 * rank, 3 * rank };
    MPI_Sendrecv_replace(rep, 3, MPI_INT, left, 4, right, 4, W, MPI_STATUS_IGNORE);
    CHECK(rep[0] == right && rep[1] == 2 * right && rep[2] == 3 * right, "sendrecv_replace");
    print_all("sendrecv_replace", rep[0] + rep[1] + rep[2]);
    sync_checks("sendrecv");

    /* 3. Isend/Irecv + MPI_Wait, MPI_Test loop */
    MPI_Request rq[2];
    double dsend = rank + 0.25, drecv = -1.0;
    MPI_Irecv(&drecv, 1, MPI_DOUBLE, left, 5, W, &rq[0]);
    MPI_Isend(&dsend, 1, MPI_DOUBLE, right, 5, W, &rq[1]);
    MPI_Wait(&rq[1], MPI_STATUS_IGNORE);
    MPI_Wait(&rq[0], &st);
    CHECK(drecv == left + 0.25 && st.MPI_SOURCE == left && st.MPI_TAG == 5, "isend/irecv/wait");
    CHECK(rq[0] == MPI_REQUEST_NULL && rq[1] == MPI_REQUEST_NULL, "wait frees requests");
    int tin = -1, tout = 1000 + rank, flag = 0;
    MPI_Irecv(&tin, 1, MPI_INT, right, 6, W, &rq[0]);
    MPI_Isend(&tout, 1, MPI_INT, left, 6, W, &rq[1]);
    while (!flag) MPI_Test(&rq[0], &flag, &st);
    MPI_Wait(&rq[1], MPI_STATUS_IGNORE);
    CHECK(tin == 1000 + right && st.MPI_SOURCE == right && rq[0] == MPI_REQUEST_NULL, "test loop");
    print_all("isend_test", tin);
    sync_checks("wait/test");

    /* 4. all-to-all exchange: MPI_Waitall (with statuses), MPI_Waitany, MPI_Testall */
    int *in = malloc((size_t)size * sizeof(int)), *out = malloc((size_t)size * sizeof(int));
    MPI_Request *rs = malloc(2 * (size_t)size * sizeof(MPI_Request));
    MPI_Status *sts = malloc(2 * (size_t)size * sizeof(MPI_Status));
    for (int pass = 0; pass < 3; pass++) {
        for (int r = 0; r < size; r++) {
            in[r] = -1; out[r] = 100 * rank + r + pass;
            MPI_Irecv(&in[r], 1, MPI_INT, r, 10 + pass, W, &rs[r]);
        }
        for (int r = 0; r < size; r++) MPI_Isend(&out[r], 1, MPI_INT, r, 10 + pass, W, &rs[size + r]);
        if (pass == 0) {
            MPI_Waitall(2 * size, rs, sts);
            for (int r = 0; r < size; r++)
                CHECK(sts[r].MPI_SOURCE == r && sts[r].MPI_TAG == 10, "waitall statuses");
        } else if (pass == 1) {
            int seen = 0, idx = -1;
            char *done = calloc(2 * (size_t)size, 1);
            for (int k = 0; k < 2 * size; k++) {
                MPI_Waitany(2 * size, rs, &idx, &st);
                int ok = idx >= 0 && idx < 2 * size && !done[idx];
                CHECK(ok, "waitany index");
                if (ok) { done[idx] = 1; seen++; }
                if (ok && idx < size) CHECK(st.MPI_SOURCE == idx && st.MPI_TAG == 11, "waitany status");
            }
            free(done);
            MPI_Waitany(2 * size, rs, &idx, MPI_STATUS_IGNORE);
            CHECK(idx == MPI_UNDEFINED && seen == 2 * size, "waitany exhausted");
        } else {
            int done = 0;
            while (!done) MPI_Testall(2 * size, rs, &done, MPI_STATUSES_IGNORE);
        }
        int s = 0;
        for (int r = 0; r < size; r++) { CHECK(in[r] == 100 * r + rank + pass, "exchange values"); s += in[r]; }
        print_all(pass == 0 ? "waitall" : pass == 1 ? "waitany" : "testall", s);
    }
    sync_checks("waitall/waitany/testall");

    /* 5. MPI_Get_count, MPI_ANY_SOURCE/MPI_ANY_TAG (barrier keeps wildcards isolated) */
    MPI_Barrier(W);
    if (rank == 0) {
        int got[8] = { 0 }, buf[16];
        for (int k = 1; k < size; k++) {
            MPI_Recv(buf, 16, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, W, &st);
            int src = st.MPI_SOURCE, cnt = -1;
            MPI_Get_count(&st, MPI_INT, &cnt);
            CHECK(src > 0 && src < size && st.MPI_TAG == 200 + src && cnt == src, "wildcard status/count");
            CHECK(buf[0] == 7 * src && buf[cnt - 1] == 7 * src + cnt - 1, "wildcard data");
            if (src > 0 && src < 8 && cnt >= 0) got[src] = cnt;
        }
        printf("wildcard counts:");
        for (int r = 1; r < size; r++) printf(" %d", got[r]);
        printf("\n");
    } else {
        int buf[16];
        for (int i = 0; i < rank; i++) buf[i] = 7 * rank + i;
        MPI_Send(buf, rank, MPI_INT, 0, 200 + rank, W);
    }
    MPI_Barrier(W);
    sync_checks("wildcard");

    /* 6. MPI_PROC_NULL */
    int pn = 42, pcnt = -1;
    MPI_Send(&pn, 1, MPI_INT, MPI_PROC_NULL, 7, W);
    MPI_Recv(&pn, 1, MPI_INT, MPI_PROC_NULL, 7, W, &st);
    MPI_Get_count(&st, MPI_INT, &pcnt);
    CHECK(pn == 42 && st.MPI_SOURCE == MPI_PROC_NULL && st.MPI_TAG == MPI_ANY_TAG && pcnt == 0, "proc_null");
    if (rank == 0) printf("proc_null: count %d untouched %d\n", pcnt, pn);
    sync_checks("proc_null");

    /* 7. MPI_Probe (unknown size, to rank 0) and MPI_Iprobe (ring) */
    if (rank == 0) {
        printf("probe counts:");
        for (int src = 1; src < size; src++) {
            int cnt = -1;
            MPI_Probe(src, 8, W, &st);
            MPI_Get_count(&st, MPI_INT, &cnt);
            CHECK(st.MPI_SOURCE == src && st.MPI_TAG == 8 && cnt == 5 * src + 3, "probe count");
            int *pb = malloc((size_t)cnt * sizeof(int));
            MPI_Recv(pb, cnt, MPI_INT, src, 8, W, MPI_STATUS_IGNORE);
            for (int i = 0; i < cnt; i++) CHECK(pb[i] == src * i, "probe data");
            free(pb);
            printf(" %d", cnt);
        }
        printf("\n");
    } else {
        int n = 5 * rank + 3, *pb = malloc((size_t)n * sizeof(int));
        for (int i = 0; i < n; i++) pb[i] = rank * i;
        MPI_Send(pb, n, MPI_INT, 0, 8, W);
        free(pb);
    }
    {
        int n = rank + 2, iflag = 0, cnt = -1;
        double *db = malloc((size_t)(left + 2) * sizeof(double)), *ds = malloc((size_t)n * sizeof(double));
        for (int i = 0; i < n; i++) ds[i] = rank + i * 0.5;
        MPI_Isend(ds, n, MPI_DOUBLE, right, 9, W, &rq[0]);
        while (!iflag) MPI_Iprobe(MPI_ANY_SOURCE, 9, W, &iflag, &st);
        MPI_Get_count(&st, MPI_DOUBLE, &cnt);
        CHECK(st.MPI_SOURCE == left && cnt == left + 2, "iprobe status/count");
        MPI_Recv(db, cnt, MPI_DOUBLE, st.MPI_SOURCE, 9, W, MPI_STATUS_IGNORE);
        MPI_Wait(&rq[0], MPI_STATUS_IGNORE);
        CHECK(db[cnt - 1] == left + (cnt - 1) * 0.5, "iprobe data");
        print_all("iprobe counts", cnt);
        free(db); free(ds);
    }
    sync_checks("probe/iprobe");

    /* 8. 1 MiB of bytes, rank 0 -> last rank (Isend/Recv), checksum echoed back */
    if (size >= 2) {
        const int NB = 1 << 20;
        unsigned char *big = malloc(NB);
        uint32_t ck = 0;
        if (rank == 0) {
            for (int i = 0; i < NB; i++) big[i] = (unsigned char)((i * 131 + (i >> 12)) & 0xff);
            MPI_Isend(big, NB, MPI_BYTE, size - 1, 10, W, &rq[0]);
            MPI_Recv(&ck, 1, MPI_UINT32_T, size - 1, 11, W, MPI_STATUS_IGNORE);
            MPI_Wait(&rq[0], MPI_STATUS_IGNORE);
            CHECK(ck == checksum(big, NB), "1MiB checksum");
            printf("1MiB checksum %08lx\n", (unsigned long)ck);
        } else if (rank == size - 1) {
            int cnt = -1;
            MPI_Recv(big, NB, MPI_BYTE, 0, 10, W, &st);
            MPI_Get_count(&st, MPI_BYTE, &cnt);
            CHECK(cnt == NB, "1MiB count");
            ck = checksum(big, NB);
            MPI_Send(&ck, 1, MPI_UINT32_T, 0, 11, W);
        }
        free(big);
    } else if (rank == 0) printf("skip 1MiB (needs 2 ranks)\n");
    sync_checks("1MiB");

    /* 9. MPI_Ssend ping-pong between pairs (2k, 2k+1) */
    if (size >= 2) {
        int partner = rank ^ 1, v = rank * 3 + 1, r = -1;
        if (partner < size) {
            if (rank % 2 == 0) MPI_Ssend(&v, 1, MPI_INT, partner, 12, W);
            MPI_Recv(&r, 1, MPI_INT, partner, 12, W, MPI_STATUS_IGNORE);
            if (rank % 2 == 1) MPI_Ssend(&v, 1, MPI_INT, partner, 12, W);
            CHECK(r == partner * 3 + 1, "ssend value");
        }
        print_all("ssend", r);
    } else if (rank == 0) printf("skip ssend (needs 2 ranks)\n");
    sync_checks("ssend");

    if (rank == 0) { printf("OK p2p\n"); fflush(stdout); }
    free(in); free(out); free(rs); free(sts);
    MPI_Finalize();
    return 0;
}
