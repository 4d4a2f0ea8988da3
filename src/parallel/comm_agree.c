/* Agreement before any communicator is split: every rank must hold the same settings (the
 * topology variables, and whatever the program passes to st_comm_init_world_ex, such as its
 * command-line options), and no rank may have failed before MPI started. Ranks that disagree
 * would otherwise wait forever in different collectives (MPI_Comm_split on some ranks,
 * MPI_Comm_split_type on others) or, worse, run with different batch shapes. Every rank makes the
 * same calls whatever it holds, and every rank returns the same error naming the setting, two
 * ranks and their values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "comm_internal.h"

#ifdef STRATA_HAVE_MPI

enum { MSG_MAX = 512 };

/* Settings the library itself needs equal on every rank: they choose the splits. */
static const char *const lib_vars[] = {"STRATA_TOPOLOGY", "STRATA_GCDS_PER_GPU"};
#define N_LIB ((int)(sizeof lib_vars / sizeof lib_vars[0]))

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    if (!s) return 0x5eed; /* unset differs from every string, "" included */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

#define MPI_OK(call)                                                                            \
    do {                                                                                        \
        int mpi_ok_rc_ = (call);                                                                \
        if (mpi_ok_rc_ != MPI_SUCCESS)                                                          \
            return ST_ERR(ST_ERR_BACKEND, "agreeing on the settings of every rank: %s failed (%d)", \
                          #call, mpi_ok_rc_);                                                   \
    } while (0)

/* `text` of rank `root` (cut to MSG_MAX - 1 bytes) into out on every rank. */
static st_status share_text(MPI_Comm p, int root, const char *text, char out[MSG_MAX])
{
    memset(out, 0, MSG_MAX);
    int me;
    MPI_Comm_rank(p, &me);
    if (me == root) snprintf(out, MSG_MAX, "%s", text ? text : "(unset)");
    MPI_OK(MPI_Bcast(out, MSG_MAX, MPI_CHAR, root, p));
    out[MSG_MAX - 1] = '\0';
    return ST_OK;
}

/* The lowest rank with a local error, or -1. */
static st_status first_failed(MPI_Comm p, int failed, int *rank)
{
    int me, in[2], res[2];
    MPI_Comm_rank(p, &me);
    in[0] = failed ? 0 : 1;
    in[1] = me;
    MPI_OK(MPI_Allreduce(in, res, 1, MPI_2INT, MPI_MINLOC, p));
    *rank = res[0] == 0 ? res[1] : -1;
    return ST_OK;
}

/* Name and value of setting i: the library's variables first, then the program's. */
static void setting(const st_comm_init_options *o, int i, const char **name, const char **value)
{
    if (i < N_LIB) {
        *name = lib_vars[i];
        *value = getenv(lib_vars[i]);
        return;
    }
    *name = o->checks[i - N_LIB].name;
    *value = o->checks[i - N_LIB].value;
}

static st_status compare(MPI_Comm p, const st_comm_init_options *o, int n)
{
    uint64_t *mine = malloc((size_t)n * sizeof *mine), *root = malloc((size_t)n * sizeof *root);
    if (!mine || !root) {
        free(mine);
        free(root);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "agreeing on %d settings", n);
    }
    for (int i = 0; i < n; i++) {
        const char *name, *value;
        setting(o, i, &name, &value);
        mine[i] = root[i] = fnv(value) ^ fnv(name);
    }
    int rc = MPI_Bcast(root, n, MPI_UINT64_T, 0, p), me, first = n;
    MPI_Comm_rank(p, &me);
    for (int i = 0; i < n && first == n; i++)
        if (mine[i] != root[i]) first = i;
    free(mine);
    free(root);
    if (rc != MPI_SUCCESS) return ST_ERR(ST_ERR_BACKEND, "agreeing on the settings of every rank: MPI_Bcast (%d)", rc);
    int in[2] = {first, me}, res[2];
    MPI_OK(MPI_Allreduce(in, res, 1, MPI_2INT, MPI_MINLOC, p));
    if (res[0] == n) return ST_OK;
    const char *name, *value;
    char v0[MSG_MAX], vr[MSG_MAX];
    setting(o, res[0], &name, &value);
    ST_TRY(share_text(p, 0, value, v0));
    ST_TRY(share_text(p, res[1], value, vr));
    return ST_ERR(ST_ERR_INVALID_ARG, "ranks disagree on %s: rank 0 has %s%s%s, rank %d has %s%s%s (every rank must "
                  "be given the same)", name, strcmp(v0, "(unset)") ? "'" : "", v0, strcmp(v0, "(unset)") ? "'" : "",
                  res[1], strcmp(vr, "(unset)") ? "'" : "", vr, strcmp(vr, "(unset)") ? "'" : "");
}

st_status comm_agree_settings(MPI_Comm p, const st_comm_init_options *o)
{
    static const st_comm_init_options none = {NULL, 0, NULL};
    if (!o) o = &none;
    int bad = -1;
    ST_TRY(first_failed(p, o->local_error != NULL, &bad));
    if (bad >= 0) {
        char msg[MSG_MAX];
        ST_TRY(share_text(p, bad, o->local_error, msg));
        return ST_ERR(ST_ERR_INVALID_ARG, "rank %d: %s", bad, msg);
    }
    int n = N_LIB + (o->n_checks > 0 ? o->n_checks : 0), mm[2] = {n, -n};
    MPI_OK(MPI_Allreduce(MPI_IN_PLACE, mm, 2, MPI_INT, MPI_MIN, p));
    if (mm[0] != -mm[1])
        return ST_ERR(ST_ERR_INVALID_ARG, "ranks pass from %d to %d settings to agree on: are they running the same "
                      "program?", mm[0] - N_LIB, -mm[1] - N_LIB);
    return compare(p, o, n);
}

#endif
