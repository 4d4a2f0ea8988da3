/* strata-train across ranks (train_dist.h): small collectives on host values through one-row CPU
 * tensors, error agreement, rank binding and the choice of a partition scheme. */
#define _GNU_SOURCE
#include <omp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "train_dist.h"

static int multi(const st_comm *c)
{
    return st_comm_size(c) > 1;
}

/* A CPU tensor of n elements holding `data`; the caller frees it. */
static st_status host_tensor(st_dtype dt, int64_t n, const void *data, st_tensor **out)
{
    st_device *cpu;
    st_status s = st_device_get("cpu", 0, &cpu);
    if (!s) s = st_tensor_create(cpu, dt, 1, &n, out);
    if (!s) s = st_tensor_write(*out, data, (size_t)n * st_dtype_size(dt));
    return s;
}

/* In place over n values of dtype dt. */
static st_status reduce_host(st_comm *c, st_dtype dt, void *v, int64_t n, st_reduce_op op)
{
    st_tensor *t = NULL;
    st_status s = host_tensor(dt, n, v, &t);
    if (!s) s = st_comm_all_reduce(c, t, op, ST_SCOPE_WORLD);
    if (!s) s = st_tensor_read(t, v, (size_t)n * st_dtype_size(dt));
    st_tensor_destroy(t);
    return s;
}

st_status dist_sum(st_comm *c, float *v, int n)
{
    return multi(c) ? reduce_host(c, ST_F32, v, n, ST_REDUCE_SUM) : ST_OK;
}

st_status dist_same(st_comm *c, int64_t v, int *same)
{
    *same = 1;
    if (!multi(c)) return ST_OK;
    /* v as two non-negative 31-bit halves (i32 is the integer dtype collectives take); the max
     * of each half and of its negation give max and min: all equal iff both match v's */
    int32_t mm[4] = {(int32_t)(v >> 31), (int32_t)(v & 0x7fffffff), -(int32_t)(v >> 31),
                     -(int32_t)(v & 0x7fffffff)};
    int32_t want[4];
    memcpy(want, mm, sizeof mm);
    st_status s = reduce_host(c, ST_I32, mm, 4, ST_REDUCE_MAX);
    if (!s) *same = mm[0] == want[0] && mm[1] == want[1] && mm[2] == want[2] && mm[3] == want[3];
    return s;
}

/* The failing rank's message, sent to all ranks as bytes in an i32 tensor; ranks that failed
 * themselves keep their own. */
static st_status share_message(st_comm *c, int root, int failed, char *err, size_t errlen)
{
    enum { WORDS = 256 };
    int32_t words[WORDS];
    memset(words, 0, sizeof words);
    if (st_comm_rank(c) == root) snprintf((char *)words, sizeof words, "%s", err);
    st_tensor *t = NULL;
    st_status s = host_tensor(ST_I32, WORDS, words, &t);
    if (!s) s = st_comm_broadcast(c, t, root, ST_SCOPE_WORLD);
    if (!s) s = st_tensor_read(t, words, sizeof words);
    st_tensor_destroy(t);
    ((char *)words)[sizeof words - 1] = 0;
    if (!s && !failed) snprintf(err, errlen, "rank %d: %s", root, (char *)words);
    return s;
}

int dist_agree(st_comm *c, int failed, char *err, size_t errlen)
{
    if (!multi(c)) return failed ? -1 : 0;
    int size = st_comm_size(c);
    /* max of (size - rank) over failing ranks names the lowest of them */
    int32_t v = failed ? size - st_comm_rank(c) : 0;
    st_status s = reduce_host(c, ST_I32, &v, 1, ST_REDUCE_MAX);
    if (!s && v == 0) return 0;
    if (!s) s = share_message(c, size - v, failed, err, errlen);
    if (s) snprintf(err, errlen, "agreeing on errors across ranks: %s", st_last_error());
    return -1;
}

void dist_level_bytes(const st_comm *c, uint64_t out[ST_LEVEL_COUNT])
{
    for (int l = 0; l < ST_LEVEL_COUNT; l++) {
        out[l] = 0;
        for (int k = 0; k < ST_COLL_COUNT; k++) {
            st_comm_bytes b = {0, 0};
            if (st_comm_bytes_get(c, (st_level)l, (st_collective)k, &b) == ST_OK) out[l] += b.sent;
        }
    }
}

void dist_level_seconds(const st_comm *c, double out[ST_LEVEL_COUNT])
{
    for (int l = 0; l < ST_LEVEL_COUNT; l++)
        if (st_comm_time_get(c, (st_level)l, &out[l]) != ST_OK) out[l] = 0;
}

/* This process's rank among the ranks of its machine, from the launcher (Open MPI, MPICH/Hydra,
 * Slurm); -1 when none says. */
static int launcher_local(int *size)
{
    static const char *const vars[][2] = {{"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
                                          {"MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
                                          {"SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"}};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *r = getenv(vars[i][0]), *n = getenv(vars[i][1]);
        if (r && n && atoi(n) > atoi(r) && atoi(r) >= 0) {
            *size = atoi(n);
            return atoi(r);
        }
    }
    return -1;
}

/* OpenMP sized its default team from the cores the process could use at start; after binding,
 * a team that large would oversubscribe the rank's share (4 ranks x 2 threads on 2 cores ran
 * ~100x slower, spinning). The CPU backend's threads follow the binding unless the user set
 * OMP_NUM_THREADS. */
static void follow_binding(void)
{
    cpu_set_t set;
    if (getenv("OMP_NUM_THREADS") || sched_getaffinity(0, sizeof set, &set) != 0) return;
    int n = CPU_COUNT(&set);
    if (n >= 1 && n < omp_get_max_threads()) omp_set_num_threads(n);
}

void dist_bind(st_comm *c, FILE *note)
{
    if (!multi(c)) return;
    st_topo *t = NULL;
    st_place p;
    st_topo_shape sh;
    char desc[256] = "";
    st_status s = st_topo_load(&t);
    if (!s) s = st_comm_place(c, &p);
    if (!s) s = st_comm_shape(c, &sh);
    if (!s) {
        int size, rank = launcher_local(&size);
        if (rank < 0) { /* no launcher figures: the ranks of one emulated node */
            size = sh.gpus_per_node * sh.gcds_per_gpu;
            rank = p.gpu * sh.gcds_per_gpu + p.gcd;
        }
        s = st_topo_bind_rank(t, &p, rank, size, desc, sizeof desc);
    }
    if (!s) follow_binding();
    if (s && note && st_comm_rank(c) == 0)
        fprintf(note, "strata-train: note: ranks not bound to cores: %s\n", st_last_error());
    st_topo_destroy(t);
}

/* --partition auto: the planner's choice among every scheme, explained on `progress`. */
static int plan_auto(st_comm *c, const gpt2_config *cfg, int64_t n_params, int64_t batch, int64_t accum,
                     FILE *progress, st_partition *out, char *err, size_t errlen)
{
    st_plan_input in;
    st_plan_input_init(&in);
    st_comm_shape(c, &in.shape);
    /* What hwloc knows of this machine's links and device memory (defaults for the rest). */
    st_topo *topo = NULL;
    if (st_topo_load(&topo) == ST_OK)
        st_plan_machine_from_topo(topo, &in.machine);
    st_topo_destroy(topo);
    in.model = (st_plan_model){.params = (uint64_t)n_params, .layers = cfg->L, .hidden = cfg->C,
                               .heads = cfg->H, .seq = cfg->T, .vocab = cfg->Vp};
    snprintf(in.model.name, sizeof in.model.name, "strata-train");
    in.param_bytes = in.grad_bytes = 4; /* f32 master weights and gradients, reduced in f32 */
    in.optim_bytes = st_partition_optim_bytes(4);
    in.micro_batches = (int)accum;
    in.micro_batch_size = (int)batch;
    st_plan_result *res = malloc(sizeof *res);
    st_status s = res ? st_plan_choose(&in, NULL, res) : ST_ERR_OUT_OF_MEMORY;
    if (s) {
        snprintf(err, errlen, "--partition auto: %s", res ? st_last_error() : "out of memory");
        free(res);
        return -1;
    }
    if (progress && st_comm_rank(c) == 0) fprintf(progress, "partition auto: %s\n", res->explanation);
    int rc = 0;
    if (res->chosen < 0) {
        snprintf(err, errlen, "--partition auto: no scheme fits the planner's device memory (%s)",
                 res->explanation);
        rc = -1;
    } else {
        *out = res->rows[res->chosen].partition;
    }
    free(res);
    return rc;
}

int dist_partition(st_comm *c, const char *text, const gpt2_config *cfg, int64_t n_params, int64_t batch,
                   int64_t grad_accum, FILE *progress, st_partition *out, char *err, size_t errlen)
{
    *out = (st_partition){ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, ST_SHARD_NONE, 0, 0, 0, 0};
    if (!text || !multi(c)) return 0; /* one process: nothing to partition over */
    if (strcmp(text, "auto") == 0)
        return plan_auto(c, cfg, n_params, batch, grad_accum, progress, out, err, errlen);
    if (st_partition_parse(text, out) != ST_OK) {
        snprintf(err, errlen, "--partition %s: %s", text, st_last_error());
        return -1;
    }
    return 0;
}
