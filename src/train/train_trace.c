/* --profile --trace FILE: a Chrome trace event file (the JSON that ui.perfetto.dev and chrome://tracing
 * open) of one training step, the run's last: every graph op forward and backward (synchronised after
 * each, as --profile times them), the shard engine's unit gathers and reductions inside the passes,
 * and the trainer's own spans: the batch read, the engine's gathers and reduce-scatters around the
 * passes, the optimizer step, the loss all-reduce. Process = rank, thread 0 = compute, thread 1 =
 * collectives and data. Under several ranks each writes its own file, FILE with ".rankR" before its
 * ".json" (each rank's clock is its own). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "train_run.h"

typedef struct trace_ev {
    char name[48], cat[12], node[48];
    double t0, t1;
} trace_ev;

struct train_trace {
    trace_ev *v;
    int n, cap, dropped;
    int64_t step;
};

#define TRACE_MAX (1 << 20) /* events of one step kept at most */

double train_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void add(struct train_trace *t, const char *name, const char *cat, const char *node, double t0, double t1)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 1024;
        trace_ev *v = cap <= TRACE_MAX ? realloc(t->v, sizeof *v * (size_t)cap) : NULL;
        if (!v) {
            t->dropped++;
            return;
        }
        t->v = v, t->cap = cap;
    }
    trace_ev *e = &t->v[t->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->cat, sizeof e->cat, "%s", cat);
    snprintf(e->node, sizeof e->node, "%s", node ? node : "");
    e->t0 = t0, e->t1 = t1;
}

static void on_graph(void *ctx, const st_graph_trace_event *ev)
{
    run *r = ctx;
    add(r->trace, ev->name, ev->cat, ev->node, ev->t0_ms, ev->t1_ms);
}

int train_trace_open(run *r)
{
    if (!r->o->trace) return 0;
    if (!(r->trace = calloc(1, sizeof *r->trace))) return train_fail(r, ST_OK, "--trace: out of memory");
    st_status s = st_graph_set_trace(r->m.plan, on_graph, r);
    return s ? train_fail(r, s, "--trace") : 0;
}

void train_trace_step(run *r, int64_t step)
{
    if (!r->trace) return;
    r->trace->n = r->trace->dropped = 0;
    r->trace->step = step;
}

void train_trace_add(run *r, const char *name, const char *cat, double t0_ms, double t1_ms)
{
    if (r->trace) add(r->trace, name, cat, NULL, t0_ms, t1_ms);
}

static void json_text(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
}

static void write_events(FILE *f, const run *r)
{
    const struct train_trace *t = r->trace;
    double origin = t->n ? t->v[0].t0 : 0;
    for (int i = 0; i < t->n; i++)
        if (t->v[i].t0 < origin) origin = t->v[i].t0;
    fprintf(f, "{\"traceEvents\": [\n");
    fprintf(f, "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"args\": {\"name\": \"rank %d\"}},\n",
            r->rank, r->rank);
    fprintf(f, "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": 0, \"args\": {\"name\": "
            "\"compute (ops)\"}},\n", r->rank);
    fprintf(f, "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": 1, \"args\": {\"name\": "
            "\"collectives, data, optimizer\"}}", r->rank);
    for (int i = 0; i < t->n; i++) {
        const trace_ev *e = &t->v[i];
        int tid = strcmp(e->cat, "op") != 0;
        fprintf(f, ",\n{\"name\": \"");
        json_text(f, e->name);
        fprintf(f, "\", \"cat\": \"%s\", \"ph\": \"X\", \"ts\": %.3f, \"dur\": %.3f, \"pid\": %d, \"tid\": %d",
                e->cat, (e->t0 - origin) * 1e3, (e->t1 - e->t0) * 1e3, r->rank, tid);
        if (*e->node) {
            fprintf(f, ", \"args\": {\"node\": \"");
            json_text(f, e->node);
            fprintf(f, "\"}");
        }
        fputc('}', f);
    }
    fprintf(f, "\n], \"displayTimeUnit\": \"ms\", \"otherData\": {\"step\": %lld, \"rank\": %d, \"ranks\": %d, "
            "\"device\": \"", (long long)t->step + 1, r->rank, r->ranks);
    json_text(f, st_device_label(r->dev));
    fprintf(f, "\", \"dropped_events\": %d}}\n", t->dropped);
}

/* FILE, or under several ranks FILE with ".rankR" before a final ".json" (else appended). */
static void trace_path(const run *r, char *buf, size_t n)
{
    const char *p = r->o->trace;
    size_t len = strlen(p);
    if (r->ranks <= 1) snprintf(buf, n, "%s", p);
    else if (len > 5 && strcmp(p + len - 5, ".json") == 0) snprintf(buf, n, "%.*s.rank%d.json", (int)(len - 5), p, r->rank);
    else snprintf(buf, n, "%s.rank%d.json", p, r->rank);
}

int train_trace_write(run *r)
{
    if (!r->trace) return 0;
    char path[4200], tmp[4300];
    trace_path(r, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return train_fail(r, ST_OK, "--trace: cannot write %s: %s", tmp, strerror(errno));
    write_events(f, r);
    int bad = ferror(f) | (fclose(f) != 0);
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return train_fail(r, ST_OK, "--trace: cannot write %s: %s", path, strerror(errno));
    }
    if (train_out(r))
        fprintf(r->progress, "trace of step %lld (%d events) in %s%s\n", (long long)r->trace->step + 1, r->trace->n,
                path, r->ranks > 1 ? " (one file per rank)" : "");
    return 0;
}

void train_trace_close(run *r)
{
    if (!r->trace) return;
    if (r->have_graph) st_graph_set_trace(r->m.plan, NULL, NULL);
    free(r->trace->v);
    free(r->trace);
    r->trace = NULL;
}
