/* Per-op profiling of a compiled graph (st_graph_set_profile / st_graph_profile): while it is on,
 * every node's forward and gradient rule is followed by st_device_sync, so the time charged to an
 * op is the device's time for it, not the time to enqueue it. Off, the executors skip it entirely. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "graph_internal.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

st_status st_graph_set_profile(st_graph_plan *p, int on)
{
    if (!p) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_set_profile: NULL plan");
    p->profile = on != 0;
    return ST_OK;
}

void st_graph_profile_reset(st_graph_plan *p)
{
    if (p) p->n_prof = 0;
}

st_status g_prof_start(st_graph_plan *p)
{
    ST_TRY(st_device_sync(p->dev));
    p->prof_t = now_ms();
    return ST_OK;
}

st_status g_prof_stop(st_graph_plan *p, int i, int backward)
{
    ST_TRY(st_device_sync(p->dev));
    double t = now_ms();
    char name[32];
    snprintf(name, sizeof name, "%s%s", g_kind_name(&p->nodes[i]), backward ? ".bwd" : "");
    int k = 0;
    while (k < p->n_prof && strcmp(p->prof[k].op, name) != 0) k++;
    if (k == p->n_prof) {
        if (k == G_PROF_MAX) return ST_ERR(ST_ERR_INTERNAL, "graph profile: more than %d op names", G_PROF_MAX);
        p->prof[k] = (st_graph_op_time){.ms = 0};
        memcpy(p->prof[k].op, name, sizeof name);
        p->n_prof++;
    }
    p->prof[k].ms += t - p->prof_t;
    p->prof[k].calls++;
    if (p->trace) {
        st_graph_trace_event ev = {name, "op", p->nodes[i].name, p->prof_t, t};
        p->trace(p->trace_ctx, &ev);
    }
    p->prof_t = t;
    return ST_OK;
}

st_status st_graph_set_trace(st_graph_plan *p, st_graph_trace_fn fn, void *ctx)
{
    if (!p) return ST_ERR(ST_ERR_INVALID_ARG, "st_graph_set_trace: NULL plan");
    p->trace = fn;
    p->trace_ctx = fn ? ctx : NULL;
    return ST_OK;
}

st_status g_prof_hook_begin(st_graph_plan *p, double *t0)
{
    ST_TRY(st_device_sync(p->dev));
    *t0 = now_ms();
    return ST_OK;
}

st_status g_prof_hook_end(st_graph_plan *p, double t0, int unit, st_graph_unit_event ev)
{
    static const char *const what[4] = {"forward begin", "forward end", "backward begin", "backward end"};
    ST_TRY(st_device_sync(p->dev));
    double t = now_ms();
    char name[48];
    snprintf(name, sizeof name, "unit %d %s", unit, (unsigned)ev < 4 ? what[ev] : "?");
    st_graph_trace_event e = {name, "unit", "", t0, t};
    p->trace(p->trace_ctx, &e);
    p->prof_t = t; /* the next node's time starts after the hook */
    return ST_OK;
}

static int by_ms_desc(const void *x, const void *y)
{
    const st_graph_op_time *a = x, *b = y;
    return a->ms < b->ms ? 1 : a->ms > b->ms ? -1 : strcmp(a->op, b->op);
}

int st_graph_profile(const st_graph_plan *p, st_graph_op_time *out, int max)
{
    if (!p) return 0;
    st_graph_op_time all[G_PROF_MAX];
    memcpy(all, p->prof, sizeof all[0] * (size_t)p->n_prof);
    qsort(all, (size_t)p->n_prof, sizeof all[0], by_ms_desc);
    int n = out && max > 0 ? (max < p->n_prof ? max : p->n_prof) : 0;
    if (n) memcpy(out, all, sizeof all[0] * (size_t)n);
    return p->n_prof;
}
