/* st_comm on any number of ranks (1 without mpirun; 2, 4, 8 under mpirun with an emulated
 * STRATA_TOPOLOGY): every collective in every scope against a direct computation on
 * integer-valued data (exact), odd sizes, the per-level byte counters against their closed forms,
 * and errors agreed on every rank. Usage: test_comm [backend] (default cpu); with STRATA_COMM_DEVICE
 * unset or 1, tensors of a backend with device collectives (CUDA with NCCL) take that path. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"

h_counts h_total;

static st_comm *comm;
static st_device *dev;
static st_topo_shape shape;
static st_place place;
static const st_scope scopes[] = {ST_SCOPE_GCD, ST_SCOPE_NODE, ST_SCOPE_WORLD};
static const char *const scope_names[] = {"gcd", "node", "world"};

/* Integer values in [-5, 5] plus a group offset, so that ranks grouped wrongly give wrong sums. */
static double value(int member, int64_t i, int salt, int group)
{
    return (double)(((member * 7 + i * 3 + salt) % 11) - 5 + group);
}

/* Identifies this rank's group of a scope (the digits of its place outside the scope). */
static int group_of(st_scope s)
{
    return s == ST_SCOPE_GCD ? place.node * shape.gpus_per_node + place.gpu : s == ST_SCOPE_NODE ? place.node : 0;
}

static st_tensor *make(st_dtype dt, int64_t n, const double *v)
{
    st_tensor *t = NULL;
    if (st_tensor_create(dev, dt, 1, &n, &t) != ST_OK) return NULL;
    size_t es = st_dtype_size(dt);
    char *buf = malloc((size_t)n * es + 1);
    for (int64_t i = 0; i < n; i++) {
        float f = (float)v[i];
        uint16_t b = st_f32_to_bf16(f);
        int32_t k = (int32_t)v[i];
        memcpy(buf + i * es, dt == ST_F32 ? (void *)&f : dt == ST_BF16 ? (void *)&b : (void *)&k, es);
    }
    st_tensor_write(t, buf, (size_t)n * es);
    free(buf);
    return t;
}

static void fetch(const st_tensor *t, double *v)
{
    int64_t n = st_tensor_numel(t);
    st_dtype dt = st_tensor_dtype(t);
    size_t es = st_dtype_size(dt);
    char *buf = malloc((size_t)n * es + 1);
    st_tensor_read(t, buf, (size_t)n * es);
    for (int64_t i = 0; i < n; i++) {
        float f;
        uint16_t b;
        int32_t k;
        if (dt == ST_F32) memcpy(&f, buf + i * es, 4), v[i] = f;
        else if (dt == ST_BF16) memcpy(&b, buf + i * es, 2), v[i] = st_bf16_to_f32(b);
        else memcpy(&k, buf + i * es, 4), v[i] = k;
    }
    free(buf);
}

/* How many expected values differ from the tensor's; prints the first. */
static int compare(const st_tensor *t, const double *want, const char *what)
{
    int64_t n = st_tensor_numel(t);
    double *got = malloc(sizeof(double) * (size_t)(n + 1));
    fetch(t, got);
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i] && bad++ == 0)
            printf("rank %d %s: element %lld is %g, expected %g\n", st_comm_rank(comm), what, (long long)i,
                   got[i], want[i]);
    free(got);
    return bad;
}

/* The closed forms of docs/collectives.md, written out per collective. S: padded bytes. */
static uint64_t expected_bytes(st_collective coll, st_scope s, st_level lv, uint64_t S)
{
    uint64_t d = (uint64_t)shape.gcds_per_gpu, g = s >= ST_SCOPE_NODE ? (uint64_t)shape.gpus_per_node : 1,
             n = s == ST_SCOPE_WORLD ? (uint64_t)shape.nodes : 1, P = d * g * n;
    if ((int)lv > (int)s) return 0;
    if (coll == ST_COLL_ALL_TO_ALL)
        return lv == ST_LEVEL_GCD ? (d - 1) * S / P : lv == ST_LEVEL_GPU ? (g - 1) * d * S / P : (n - 1) * g * d * S / P;
    uint64_t one = lv == ST_LEVEL_GCD ? S * (d - 1) / d : lv == ST_LEVEL_GPU ? S * (g - 1) / (g * d) : S * (n - 1) / P;
    if (coll != ST_COLL_ALL_REDUCE) return one;
    return lv == ST_LEVEL_NODE ? 2 * (n - 1) * (S / (g * d)) / n : 2 * one;
}

static void check_bytes(st_collective coll, st_scope s, uint64_t S, const char *what)
{
    for (int lv = 0; lv < ST_LEVEL_COUNT; lv++) {
        st_comm_bytes b;
        st_comm_bytes_get(comm, (st_level)lv, coll, &b);
        uint64_t want = expected_bytes(coll, s, (st_level)lv, S);
        CHECK(b.sent == want && b.received == want, "%s level %d: sent %llu received %llu, expected %llu", what,
              lv, (unsigned long long)b.sent, (unsigned long long)b.received, (unsigned long long)want);
    }
}

static void test_all_reduce(st_dtype dt, int64_t n, st_scope s, st_reduce_op op)
{
    int P = st_comm_scope_size(comm, s), me = st_comm_scope_rank(comm, s), grp = group_of(s);
    double *v = malloc(sizeof(double) * (size_t)n), *want = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        v[i] = value(me, i, 1, grp);
        double acc = op == ST_REDUCE_MAX ? -1e9 : 0;
        for (int m = 0; m < P; m++)
            acc = op == ST_REDUCE_MAX ? (value(m, i, 1, grp) > acc ? value(m, i, 1, grp) : acc) : acc + value(m, i, 1, grp);
        if (op == ST_REDUCE_AVG) acc = (float)acc / (float)P;
        want[i] = dt == ST_BF16 ? st_bf16_to_f32(st_f32_to_bf16((float)acc)) : dt == ST_F32 ? (float)acc : acc;
    }
    st_tensor *t = make(dt, n, v);
    char what[96];
    snprintf(what, sizeof what, "all_reduce %s n=%lld %s op=%d", st_dtype_name(dt), (long long)n, scope_names[s], op);
    st_comm_bytes_reset(comm);
    CHECK_ST(st_comm_all_reduce(comm, t, op, s), ST_OK);
    CHECK(compare(t, want, what) == 0, "%s", what);
    uint64_t padded = (uint64_t)((n + P - 1) / P * P);
    check_bytes(ST_COLL_ALL_REDUCE, s, padded * (dt == ST_I32 ? 4 : 4), what);
    st_tensor_destroy(t);
    free(v), free(want);
}

static void test_reduce_scatter_all_gather(st_dtype dt, int64_t n, st_scope s)
{
    int P = st_comm_scope_size(comm, s), me = st_comm_scope_rank(comm, s), grp = group_of(s);
    int64_t cnt = (n + P - 1) / P;
    double *v = malloc(sizeof(double) * (size_t)(n + P * cnt)), *want = malloc(sizeof(double) * (size_t)(n + P * cnt));
    for (int64_t i = 0; i < n; i++) v[i] = value(me, i, 2, grp);
    for (int64_t k = 0; k < cnt; k++) {
        int64_t i = me * cnt + k;
        want[k] = 0;
        for (int m = 0; m < P && i < n; m++) want[k] += value(m, i, 2, grp);
    }
    st_tensor *in = make(dt, n, v), *out = make(dt, cnt, want);
    char what[96];
    snprintf(what, sizeof what, "reduce_scatter %s n=%lld %s", st_dtype_name(dt), (long long)n, scope_names[s]);
    st_comm_bytes_reset(comm);
    CHECK_ST(st_comm_reduce_scatter(comm, in, out, ST_REDUCE_SUM, s), ST_OK);
    CHECK(compare(out, want, what) == 0, "%s", what);
    check_bytes(ST_COLL_REDUCE_SCATTER, s, (uint64_t)(cnt * P) * 4, what);
    st_tensor_destroy(in), st_tensor_destroy(out);

    /* all-gather of each member's shard of a full tensor: out is that tensor, cut to n. */
    for (int64_t k = 0; k < cnt; k++) v[k] = value(me, k, 3, grp);
    for (int64_t i = 0; i < n; i++) want[i] = value((int)(i / cnt), i % cnt, 3, grp);
    in = make(dt, cnt, v);
    out = make(dt, n, v);
    snprintf(what, sizeof what, "all_gather %s n=%lld %s", st_dtype_name(dt), (long long)n, scope_names[s]);
    st_comm_bytes_reset(comm);
    CHECK_ST(st_comm_all_gather(comm, in, out, s), ST_OK);
    CHECK(compare(out, want, what) == 0, "%s", what);
    check_bytes(ST_COLL_ALL_GATHER, s, (uint64_t)(cnt * P) * (dt == ST_BF16 ? 2 : 4), what);
    st_tensor_destroy(in), st_tensor_destroy(out);
    free(v), free(want);
}

static void test_broadcast_all_to_all(st_dtype dt, int64_t n, st_scope s)
{
    int P = st_comm_scope_size(comm, s), me = st_comm_scope_rank(comm, s), grp = group_of(s), root = P - 1;
    int64_t blk = (n + P - 1) / P;
    size_t es = dt == ST_BF16 ? 2 : 4;
    double *v = malloc(sizeof(double) * (size_t)n), *want = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = value(me, i, 4, grp), want[i] = value(root, i, 4, grp);
    st_tensor *t = make(dt, n, v);
    char what[96];
    snprintf(what, sizeof what, "broadcast %s n=%lld %s", st_dtype_name(dt), (long long)n, scope_names[s]);
    st_comm_bytes_reset(comm);
    CHECK_ST(st_comm_broadcast(comm, t, root, s), ST_OK);
    CHECK(compare(t, want, what) == 0, "%s", what);
    check_bytes(ST_COLL_BROADCAST, s, (uint64_t)(blk * P) * es, what);
    st_tensor_destroy(t);

    /* Sender r's block `me` lands as block r: out[r*blk + k] = in_r[me*blk + k], zero past n. */
    for (int64_t i = 0; i < n; i++) {
        v[i] = value(me, i, 5, grp);
        int64_t r = i / blk, src = me * blk + i % blk;
        want[i] = src < n ? value((int)r, src, 5, grp) : 0;
    }
    st_tensor *in = make(dt, n, v), *out = make(dt, n, v);
    snprintf(what, sizeof what, "all_to_all %s n=%lld %s", st_dtype_name(dt), (long long)n, scope_names[s]);
    st_comm_bytes_reset(comm);
    CHECK_ST(st_comm_all_to_all(comm, in, out, s), ST_OK);
    CHECK(compare(out, want, what) == 0, "%s", what);
    check_bytes(ST_COLL_ALL_TO_ALL, s, (uint64_t)(blk * P) * es, what);
    st_tensor_destroy(in), st_tensor_destroy(out);
    free(v), free(want);
}

/* Errors every rank must see: ranks disagreeing on counts or dtypes, one rank's bad arguments. */
static void test_errors(void)
{
    int r = st_comm_rank(comm);
    double v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    st_tensor *t = make(ST_F32, r == 0 ? 7 : 8, v);
    CHECK_ST(st_comm_all_reduce(comm, t, ST_REDUCE_SUM, ST_SCOPE_WORLD), ST_ERR_SHAPE);
    CHECK(h_msg_has("7") && h_msg_has("8"), "message names both counts: %s", st_last_error());
    st_tensor_destroy(t);
    t = make(r == 0 ? ST_F32 : ST_I32, 8, v);
    CHECK_ST(st_comm_broadcast(comm, t, 0, ST_SCOPE_WORLD), ST_ERR_DTYPE);
    CHECK(h_msg_has("f32") && h_msg_has("i32"), "message names both dtypes: %s", st_last_error());
    st_tensor_destroy(t);
    st_tensor *in = make(ST_F32, 8, v), *out = make(ST_F32, r == 0 ? 5 : (8 + st_comm_size(comm) - 1) / st_comm_size(comm), v);
    CHECK_ST(st_comm_reduce_scatter(comm, in, out, ST_REDUCE_SUM, ST_SCOPE_WORLD),
             r == 0 ? ST_ERR_SHAPE : ST_ERR_INVALID_ARG);
    st_tensor_destroy(in), st_tensor_destroy(out);
    t = make(ST_F32, 8, v);
    CHECK_ST(st_comm_all_reduce(comm, t, ST_REDUCE_SUM, ST_SCOPE_WORLD), ST_OK); /* still usable */
    st_tensor_destroy(t);
}

/* A strided (transposed) CPU view goes through the staging path. */
static void test_strided(void)
{
    int P = st_comm_size(comm), me = st_comm_rank(comm);
    int64_t shp[2] = {3, 5};
    double v[15], want[15];
    for (int i = 0; i < 15; i++) {
        v[i] = value(me, i, 6, 0);
        want[i] = 0;
        for (int m = 0; m < P; m++) want[i] += value(m, i, 6, 0);
    }
    st_tensor *base = make(ST_F32, 15, v), *mat = NULL, *tr = NULL;
    st_tensor_reshape(base, 2, shp, &mat);
    st_tensor_transpose(mat, 0, 1, &tr);
    CHECK(!st_tensor_is_contiguous(tr), "transposed view");
    CHECK_ST(st_comm_all_reduce(comm, tr, ST_REDUCE_SUM, ST_SCOPE_WORLD), ST_OK);
    CHECK(compare(base, want, "strided all_reduce") == 0, "strided all_reduce");
    st_tensor_destroy(tr), st_tensor_destroy(mat), st_tensor_destroy(base);
}

/* Where each rank sits: the emulated placement of its MPI rank, and the hierarchy-order rank. */
static void test_place(void)
{
    const char *mpi_rank = getenv("OMPI_COMM_WORLD_RANK");
    int n = shape.nodes, g = shape.gpus_per_node, d = shape.gcds_per_gpu;
    CHECK(n * g * d == st_comm_size(comm), "shape %dx%dx%d vs %d ranks", n, g, d, st_comm_size(comm));
    CHECK(st_comm_rank(comm) == (place.gcd * g + place.gpu) * n + place.node, "rank %d in hierarchy order",
          st_comm_rank(comm));
    if (mpi_rank && getenv("STRATA_TOPOLOGY")) {
        int r = atoi(mpi_rank);
        st_place want = {r / (g * d), (r / d) % g, r % d};
        int same = place.node == want.node && place.gpu == want.gpu && place.gcd == want.gcd;
        CHECK(same, "MPI rank %d placed at %d/%d/%d", r, place.node, place.gpu, place.gcd);
    }
}

/* One rank without a launcher: local errors, and a topology that does not fit one rank. */
static void test_single_rank(void)
{
    double v[4] = {1, 2, 3, 4};
    st_tensor *t = make(ST_I32, 4, v);
    CHECK_ST(st_comm_all_reduce(comm, t, ST_REDUCE_AVG, ST_SCOPE_WORLD), ST_ERR_DTYPE);
    CHECK_ST(st_comm_broadcast(comm, t, 1, ST_SCOPE_WORLD), ST_ERR_INVALID_ARG);
    CHECK_ST(st_comm_all_reduce(comm, t, ST_REDUCE_SUM, (st_scope)7), ST_ERR_INVALID_ARG);
    st_tensor_destroy(t);
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") || getenv("SLURM_NTASKS"))
        return;
    const char *old = getenv("STRATA_TOPOLOGY");
    setenv("STRATA_TOPOLOGY", "2x1x1", 1);
    st_comm *bad = NULL;
    CHECK_ST(st_comm_init_world(&bad), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("2") && h_msg_has("1"), "message names both rank counts: %s", st_last_error());
    CHECK(bad == NULL, "no communicator on error");
    if (old) setenv("STRATA_TOPOLOGY", old, 1);
    else unsetenv("STRATA_TOPOLOGY");
}

/* Device collectives (NCCL) need one device per rank of the machine: rank i of the machine takes
 * device i, and with fewer devices than ranks they share and the collectives are staged. */
static int pick_device(const char *backend)
{
    st_backend_info info;
    const char *lr = getenv("OMPI_COMM_WORLD_LOCAL_RANK"), *ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (strcmp(backend, "cpu") == 0 || st_backend_info_by_name(backend, &info) != ST_OK || info.device_count == 0)
        return 0;
    int local = lr ? atoi(lr) : 0, local_size = ls ? atoi(ls) : 1;
    if (info.device_count >= local_size)
        return local;
    if (local == 0)
        printf("note: %d %s devices for %d ranks on this machine: they share, collectives staged "
               "(STRATA_COMM_DEVICE=0)\n", info.device_count, backend, local_size);
    setenv("STRATA_COMM_DEVICE", "0", 1);
    return local % info.device_count;
}

int main(int argc, char **argv)
{
    const char *backend = argc > 1 ? argv[1] : "cpu";
    st_status s = st_comm_init_world(&comm);
    if (s != ST_OK) {
        printf("st_comm_init_world: %s: %s\n", st_status_string(s), st_last_error());
        return 1;
    }
    if (st_device_get(backend, pick_device(backend), &dev) != ST_OK) {
        printf("SKIP no %s device: %s\n", backend, st_last_error());
        st_comm_destroy(comm);
        return H_SKIP_CODE;
    }
    st_comm_shape(comm, &shape);
    st_comm_place(comm, &place);
    test_place();
    static const st_dtype dtypes[] = {ST_F32, ST_BF16, ST_I32};
    static const int64_t sizes[] = {1, 7, 1001};
    for (int di = 0; di < 3; di++)
        for (int ni = 0; ni < 3; ni++)
            for (int si = 0; si < 3; si++) {
                st_dtype dt = dtypes[di];
                for (int op = ST_REDUCE_SUM; op <= ST_REDUCE_MAX; op++)
                    if (!(dt == ST_I32 && op == ST_REDUCE_AVG))
                        test_all_reduce(dt, sizes[ni], scopes[si], (st_reduce_op)op);
                test_reduce_scatter_all_gather(dt, sizes[ni], scopes[si]);
                test_broadcast_all_to_all(dt, sizes[ni], scopes[si]);
            }
    test_strided();
    if (st_comm_size(comm) > 1)
        test_errors();
    else
        test_single_rank();
    int rank = st_comm_rank(comm), size = st_comm_size(comm);
    st_comm_destroy(comm);
    printf("rank %d of %d (%s): ", rank, size, backend);
    return h_finish();
}
