// C++ (no exceptions): a ring of std::vector<int> messages with a small RAII wrapper and a
// template reduction; rank 0 prints. Checks that C++ MPI sources build and behave alike.
#include <mpi.h>
#include <cstdio>
#include <numeric>
#include <vector>

namespace {
class World {
  public:
    World(int *argc, char ***argv) { MPI_Init(argc, argv); }
    ~World() { MPI_Finalize(); }
    int rank() const { int r; MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
    int size() const { int s; MPI_Comm_size(MPI_COMM_WORLD, &s); return s; }
};

template <typename T> T sum_all(T v, MPI_Datatype t) {
    T out{};
    MPI_Allreduce(&v, &out, 1, t, MPI_SUM, MPI_COMM_WORLD);
    return out;
}
}  // namespace

int main(int argc, char **argv) {
    World w(&argc, &argv);
    const int rank = w.rank(), size = w.size();
    std::vector<int> msg(16);
    std::iota(msg.begin(), msg.end(), rank * 100);
    std::vector<int> got(16, -1);
    const int next = (rank + 1) % size, prev = (rank + size - 1) % size;
    MPI_Sendrecv(msg.data(), 16, MPI_INT, next, 7, got.data(), 16, MPI_INT, prev, 7,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    long long local = std::accumulate(got.begin(), got.end(), 0LL);
    long long total = sum_all<long long>(local, MPI_LONG_LONG);
    double avg = sum_all<double>(static_cast<double>(rank), MPI_DOUBLE) / size;
    bool ok = got.front() == prev * 100 && got.back() == prev * 100 + 15;
    int all_ok = sum_all<int>(ok ? 1 : 0, MPI_INT);
    if (rank == 0) {
        std::printf("cxx_ring: world size %d\n", size);
        std::printf("ring total %lld mean rank %.3f\n", total, avg);
        std::printf(all_ok == size ? "OK cxx_ring\n" : "FAIL cxx_ring\n");
    }
    return all_ok == size ? 0 : 1;
}
