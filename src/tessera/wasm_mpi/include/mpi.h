/* Tessera's MPI header for wasm32-wasi guests (tessera.wasm_mpi).
 *
 * Standard MPI C API names, types and constants, so unmodified MPI sources
 * compile with `tessera wasm cc`. Every handle is a small integer that the
 * embedder maps to the host MPI's own handle; every function is a wasm import
 * from module "mpi" served by the host's real MPI (zero-copy: buffers are
 * guest addresses, checked against the guest memory before use).
 *
 * The numbers below are the guest ABI. The embedder reads them from this file
 * (tessera.wasm_mpi.abi), so this header is the one place they are written.
 * wasm32: int, long and pointers are 4 bytes; long long is 8.
 */
#ifndef TESSERA_WASM_MPI_H
#define TESSERA_WASM_MPI_H

#ifdef __cplusplus
extern "C" {
#endif

#define MPI_VERSION 3
#define MPI_SUBVERSION 1
#define TESSERA_WASM_MPI 1

typedef int MPI_Comm;
typedef int MPI_Datatype;
typedef int MPI_Op;
typedef int MPI_Request;
typedef int MPI_Group;
typedef int MPI_Errhandler;
typedef int MPI_Info;
typedef long MPI_Aint;
typedef long long MPI_Offset;
typedef long long MPI_Count;
typedef int MPI_Fint;

typedef struct MPI_Status {
    int MPI_SOURCE;
    int MPI_TAG;
    int MPI_ERROR;
    int tessera_count;     /* bytes received */
    int tessera_cancelled;
} MPI_Status;

typedef void MPI_User_function(void *invec, void *inoutvec, int *len, MPI_Datatype *datatype);

/* communicators */
#define MPI_COMM_NULL ((MPI_Comm)0)
#define MPI_COMM_WORLD ((MPI_Comm)1)
#define MPI_COMM_SELF ((MPI_Comm)2)

/* datatypes (wasm32 sizes: MPI_LONG, MPI_UNSIGNED_LONG and MPI_AINT are 4 bytes) */
#define MPI_DATATYPE_NULL ((MPI_Datatype)0)
#define MPI_CHAR ((MPI_Datatype)1)
#define MPI_SIGNED_CHAR ((MPI_Datatype)2)
#define MPI_UNSIGNED_CHAR ((MPI_Datatype)3)
#define MPI_BYTE ((MPI_Datatype)4)
#define MPI_SHORT ((MPI_Datatype)5)
#define MPI_UNSIGNED_SHORT ((MPI_Datatype)6)
#define MPI_INT ((MPI_Datatype)7)
#define MPI_UNSIGNED ((MPI_Datatype)8)
#define MPI_LONG ((MPI_Datatype)9)
#define MPI_UNSIGNED_LONG ((MPI_Datatype)10)
#define MPI_LONG_LONG_INT ((MPI_Datatype)11)
#define MPI_LONG_LONG MPI_LONG_LONG_INT
#define MPI_UNSIGNED_LONG_LONG ((MPI_Datatype)12)
#define MPI_FLOAT ((MPI_Datatype)13)
#define MPI_DOUBLE ((MPI_Datatype)14)
#define MPI_LONG_DOUBLE ((MPI_Datatype)15)
#define MPI_C_BOOL ((MPI_Datatype)16)
#define MPI_INT8_T ((MPI_Datatype)17)
#define MPI_INT16_T ((MPI_Datatype)18)
#define MPI_INT32_T ((MPI_Datatype)19)
#define MPI_INT64_T ((MPI_Datatype)20)
#define MPI_UINT8_T ((MPI_Datatype)21)
#define MPI_UINT16_T ((MPI_Datatype)22)
#define MPI_UINT32_T ((MPI_Datatype)23)
#define MPI_UINT64_T ((MPI_Datatype)24)
#define MPI_FLOAT_INT ((MPI_Datatype)25)
#define MPI_DOUBLE_INT ((MPI_Datatype)26)
#define MPI_LONG_INT ((MPI_Datatype)27)
#define MPI_2INT ((MPI_Datatype)28)
#define MPI_SHORT_INT ((MPI_Datatype)29)
#define MPI_PACKED ((MPI_Datatype)30)
#define MPI_AINT ((MPI_Datatype)31)
#define MPI_OFFSET ((MPI_Datatype)32)
#define MPI_COUNT ((MPI_Datatype)33)
#define MPI_WCHAR ((MPI_Datatype)34)
#define MPI_UNSIGNED_LONG_LONG_INT MPI_UNSIGNED_LONG_LONG
#define TESSERA_MPI_PREDEFINED_TYPES 35

/* reduction operations */
#define MPI_OP_NULL ((MPI_Op)0)
#define MPI_MAX ((MPI_Op)1)
#define MPI_MIN ((MPI_Op)2)
#define MPI_SUM ((MPI_Op)3)
#define MPI_PROD ((MPI_Op)4)
#define MPI_LAND ((MPI_Op)5)
#define MPI_BAND ((MPI_Op)6)
#define MPI_LOR ((MPI_Op)7)
#define MPI_BOR ((MPI_Op)8)
#define MPI_LXOR ((MPI_Op)9)
#define MPI_BXOR ((MPI_Op)10)
#define MPI_MINLOC ((MPI_Op)11)
#define MPI_MAXLOC ((MPI_Op)12)
#define MPI_REPLACE ((MPI_Op)13)
#define MPI_NO_OP ((MPI_Op)14)
#define TESSERA_MPI_PREDEFINED_OPS 15

#define MPI_REQUEST_NULL ((MPI_Request)0)
#define MPI_GROUP_NULL ((MPI_Group)0)
#define MPI_GROUP_EMPTY ((MPI_Group)1)
#define MPI_ERRHANDLER_NULL ((MPI_Errhandler)0)
#define MPI_ERRORS_ARE_FATAL ((MPI_Errhandler)1)
#define MPI_ERRORS_RETURN ((MPI_Errhandler)2)
#define MPI_INFO_NULL ((MPI_Info)0)

/* special addresses and values */
#define MPI_STATUS_IGNORE ((MPI_Status *)0)
#define MPI_STATUSES_IGNORE ((MPI_Status *)0)
#define MPI_IN_PLACE ((void *)-1)
#define MPI_BOTTOM ((void *)0)
#define MPI_ANY_SOURCE (-2)
#define MPI_PROC_NULL (-1)
#define MPI_ROOT (-3)
#define MPI_ANY_TAG (-1)
#define MPI_UNDEFINED (-32766)
#define MPI_TAG_UB 1681915906
#define MPI_MAX_PROCESSOR_NAME 128
#define MPI_MAX_ERROR_STRING 512
#define MPI_MAX_OBJECT_NAME 128
#define MPI_IDENT 0
#define MPI_CONGRUENT 1
#define MPI_SIMILAR 2
#define MPI_UNEQUAL 3
#define MPI_THREAD_SINGLE 0
#define MPI_THREAD_FUNNELED 1
#define MPI_THREAD_SERIALIZED 2
#define MPI_THREAD_MULTIPLE 3

/* error classes */
#define MPI_SUCCESS 0
#define MPI_ERR_BUFFER 1
#define MPI_ERR_COUNT 2
#define MPI_ERR_TYPE 3
#define MPI_ERR_TAG 4
#define MPI_ERR_COMM 5
#define MPI_ERR_RANK 6
#define MPI_ERR_ROOT 7
#define MPI_ERR_GROUP 8
#define MPI_ERR_OP 9
#define MPI_ERR_TOPOLOGY 10
#define MPI_ERR_DIMS 11
#define MPI_ERR_ARG 12
#define MPI_ERR_UNKNOWN 13
#define MPI_ERR_TRUNCATE 14
#define MPI_ERR_OTHER 15
#define MPI_ERR_INTERN 16
#define MPI_ERR_IN_STATUS 17
#define MPI_ERR_PENDING 18
#define MPI_ERR_REQUEST 19
#define MPI_ERR_LASTCODE 1073741823

#define TESSERA_MPI_IMPORT(name) __attribute__((import_module("mpi"), import_name(#name)))

/* environment */
TESSERA_MPI_IMPORT(MPI_Init) int MPI_Init(int *argc, char ***argv);
TESSERA_MPI_IMPORT(MPI_Init_thread) int MPI_Init_thread(int *argc, char ***argv, int required, int *provided);
TESSERA_MPI_IMPORT(MPI_Initialized) int MPI_Initialized(int *flag);
TESSERA_MPI_IMPORT(MPI_Finalize) int MPI_Finalize(void);
TESSERA_MPI_IMPORT(MPI_Finalized) int MPI_Finalized(int *flag);
TESSERA_MPI_IMPORT(MPI_Abort) int MPI_Abort(MPI_Comm comm, int errorcode);
TESSERA_MPI_IMPORT(MPI_Wtime) double MPI_Wtime(void);
TESSERA_MPI_IMPORT(MPI_Wtick) double MPI_Wtick(void);
TESSERA_MPI_IMPORT(MPI_Get_processor_name) int MPI_Get_processor_name(char *name, int *resultlen);
TESSERA_MPI_IMPORT(MPI_Get_version) int MPI_Get_version(int *version, int *subversion);
TESSERA_MPI_IMPORT(MPI_Error_string) int MPI_Error_string(int errorcode, char *string, int *resultlen);
TESSERA_MPI_IMPORT(MPI_Error_class) int MPI_Error_class(int errorcode, int *errorclass);
TESSERA_MPI_IMPORT(MPI_Comm_set_errhandler) int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler);
TESSERA_MPI_IMPORT(MPI_Query_thread) int MPI_Query_thread(int *provided);

/* point to point */
TESSERA_MPI_IMPORT(MPI_Send) int MPI_Send(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Ssend) int MPI_Ssend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Rsend) int MPI_Rsend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Recv) int MPI_Recv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm, MPI_Status *status);
TESSERA_MPI_IMPORT(MPI_Sendrecv) int MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag, void *recvbuf, int recvcount, MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm, MPI_Status *status);
TESSERA_MPI_IMPORT(MPI_Sendrecv_replace) int MPI_Sendrecv_replace(void *buf, int count, MPI_Datatype datatype, int dest, int sendtag, int source, int recvtag, MPI_Comm comm, MPI_Status *status);
TESSERA_MPI_IMPORT(MPI_Isend) int MPI_Isend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm, MPI_Request *request);
TESSERA_MPI_IMPORT(MPI_Issend) int MPI_Issend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm, MPI_Request *request);
TESSERA_MPI_IMPORT(MPI_Irecv) int MPI_Irecv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm, MPI_Request *request);
TESSERA_MPI_IMPORT(MPI_Wait) int MPI_Wait(MPI_Request *request, MPI_Status *status);
TESSERA_MPI_IMPORT(MPI_Waitall) int MPI_Waitall(int count, MPI_Request requests[], MPI_Status statuses[]);
TESSERA_MPI_IMPORT(MPI_Waitany) int MPI_Waitany(int count, MPI_Request requests[], int *index, MPI_Status *status);
TESSERA_MPI_IMPORT(MPI_Test) int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status);
TESSERA_MPI_IMPORT(MPI_Testall) int MPI_Testall(int count, MPI_Request requests[], int *flag, MPI_Status statuses[]);
TESSERA_MPI_IMPORT(MPI_Testany) int MPI_Testany(int count, MPI_Request requests[], int *index, int *flag, MPI_Status *status);
TESSERA_MPI_IMPORT(MPI_Request_free) int MPI_Request_free(MPI_Request *request);
TESSERA_MPI_IMPORT(MPI_Cancel) int MPI_Cancel(MPI_Request *request);
TESSERA_MPI_IMPORT(MPI_Probe) int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status);
TESSERA_MPI_IMPORT(MPI_Iprobe) int MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status);
TESSERA_MPI_IMPORT(MPI_Get_count) int MPI_Get_count(const MPI_Status *status, MPI_Datatype datatype, int *count);
TESSERA_MPI_IMPORT(MPI_Get_elements) int MPI_Get_elements(const MPI_Status *status, MPI_Datatype datatype, int *count);

/* collectives */
TESSERA_MPI_IMPORT(MPI_Barrier) int MPI_Barrier(MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Bcast) int MPI_Bcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Reduce) int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op, int root, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Allreduce) int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Gather) int MPI_Gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Gatherv) int MPI_Gatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, const int recvcounts[], const int displs[], MPI_Datatype recvtype, int root, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Scatter) int MPI_Scatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Scatterv) int MPI_Scatterv(const void *sendbuf, const int sendcounts[], const int displs[], MPI_Datatype sendtype, void *recvbuf, int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Allgather) int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Allgatherv) int MPI_Allgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, const int recvcounts[], const int displs[], MPI_Datatype recvtype, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Alltoall) int MPI_Alltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Alltoallv) int MPI_Alltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[], MPI_Datatype sendtype, void *recvbuf, const int recvcounts[], const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Reduce_scatter) int MPI_Reduce_scatter(const void *sendbuf, void *recvbuf, const int recvcounts[], MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Reduce_scatter_block) int MPI_Reduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Scan) int MPI_Scan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Exscan) int MPI_Exscan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);
TESSERA_MPI_IMPORT(MPI_Op_create) int MPI_Op_create(MPI_User_function *user_fn, int commute, MPI_Op *op);
TESSERA_MPI_IMPORT(MPI_Op_free) int MPI_Op_free(MPI_Op *op);
TESSERA_MPI_IMPORT(MPI_Op_commutative) int MPI_Op_commutative(MPI_Op op, int *commute);

/* communicators, groups, topologies */
TESSERA_MPI_IMPORT(MPI_Comm_rank) int MPI_Comm_rank(MPI_Comm comm, int *rank);
TESSERA_MPI_IMPORT(MPI_Comm_size) int MPI_Comm_size(MPI_Comm comm, int *size);
TESSERA_MPI_IMPORT(MPI_Comm_dup) int MPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm);
TESSERA_MPI_IMPORT(MPI_Comm_split) int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm);
TESSERA_MPI_IMPORT(MPI_Comm_create) int MPI_Comm_create(MPI_Comm comm, MPI_Group group, MPI_Comm *newcomm);
TESSERA_MPI_IMPORT(MPI_Comm_free) int MPI_Comm_free(MPI_Comm *comm);
TESSERA_MPI_IMPORT(MPI_Comm_compare) int MPI_Comm_compare(MPI_Comm comm1, MPI_Comm comm2, int *result);
TESSERA_MPI_IMPORT(MPI_Comm_group) int MPI_Comm_group(MPI_Comm comm, MPI_Group *group);
TESSERA_MPI_IMPORT(MPI_Comm_set_name) int MPI_Comm_set_name(MPI_Comm comm, const char *comm_name);
TESSERA_MPI_IMPORT(MPI_Comm_get_name) int MPI_Comm_get_name(MPI_Comm comm, char *comm_name, int *resultlen);
TESSERA_MPI_IMPORT(MPI_Group_size) int MPI_Group_size(MPI_Group group, int *size);
TESSERA_MPI_IMPORT(MPI_Group_rank) int MPI_Group_rank(MPI_Group group, int *rank);
TESSERA_MPI_IMPORT(MPI_Group_incl) int MPI_Group_incl(MPI_Group group, int n, const int ranks[], MPI_Group *newgroup);
TESSERA_MPI_IMPORT(MPI_Group_excl) int MPI_Group_excl(MPI_Group group, int n, const int ranks[], MPI_Group *newgroup);
TESSERA_MPI_IMPORT(MPI_Group_translate_ranks) int MPI_Group_translate_ranks(MPI_Group group1, int n, const int ranks1[], MPI_Group group2, int ranks2[]);
TESSERA_MPI_IMPORT(MPI_Group_free) int MPI_Group_free(MPI_Group *group);
TESSERA_MPI_IMPORT(MPI_Dims_create) int MPI_Dims_create(int nnodes, int ndims, int dims[]);
TESSERA_MPI_IMPORT(MPI_Cart_create) int MPI_Cart_create(MPI_Comm comm_old, int ndims, const int dims[], const int periods[], int reorder, MPI_Comm *comm_cart);
TESSERA_MPI_IMPORT(MPI_Cart_coords) int MPI_Cart_coords(MPI_Comm comm, int rank, int maxdims, int coords[]);
TESSERA_MPI_IMPORT(MPI_Cart_rank) int MPI_Cart_rank(MPI_Comm comm, const int coords[], int *rank);
TESSERA_MPI_IMPORT(MPI_Cart_shift) int MPI_Cart_shift(MPI_Comm comm, int direction, int disp, int *rank_source, int *rank_dest);
TESSERA_MPI_IMPORT(MPI_Cartdim_get) int MPI_Cartdim_get(MPI_Comm comm, int *ndims);
TESSERA_MPI_IMPORT(MPI_Cart_get) int MPI_Cart_get(MPI_Comm comm, int maxdims, int dims[], int periods[], int coords[]);

/* datatypes */
TESSERA_MPI_IMPORT(MPI_Type_contiguous) int MPI_Type_contiguous(int count, MPI_Datatype oldtype, MPI_Datatype *newtype);
TESSERA_MPI_IMPORT(MPI_Type_vector) int MPI_Type_vector(int count, int blocklength, int stride, MPI_Datatype oldtype, MPI_Datatype *newtype);
TESSERA_MPI_IMPORT(MPI_Type_indexed) int MPI_Type_indexed(int count, const int blocklengths[], const int displacements[], MPI_Datatype oldtype, MPI_Datatype *newtype);
TESSERA_MPI_IMPORT(MPI_Type_create_struct) int MPI_Type_create_struct(int count, const int blocklengths[], const MPI_Aint displacements[], const MPI_Datatype types[], MPI_Datatype *newtype);
TESSERA_MPI_IMPORT(MPI_Type_create_resized) int MPI_Type_create_resized(MPI_Datatype oldtype, MPI_Aint lb, MPI_Aint extent, MPI_Datatype *newtype);
TESSERA_MPI_IMPORT(MPI_Get_address) int MPI_Get_address(const void *location, MPI_Aint *address);
TESSERA_MPI_IMPORT(MPI_Type_commit) int MPI_Type_commit(MPI_Datatype *datatype);
TESSERA_MPI_IMPORT(MPI_Type_free) int MPI_Type_free(MPI_Datatype *datatype);
TESSERA_MPI_IMPORT(MPI_Type_size) int MPI_Type_size(MPI_Datatype datatype, int *size);
TESSERA_MPI_IMPORT(MPI_Type_get_extent) int MPI_Type_get_extent(MPI_Datatype datatype, MPI_Aint *lb, MPI_Aint *extent);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_WASM_MPI_H */
