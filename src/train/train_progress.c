/* What a person reads while strata-train runs: a permanent line every --log-every steps (and at the
 * first and last step), and on a terminal one status line rewritten in place for the steps between
 * (step, loss, tokens/s, ETA; at most every 100 ms); not on a terminal, only the permanent lines, plain. The JSONL log gets
 * every step. */
#include <math.h>
#include <stdio.h>
#include "train_run.h"

int64_t train_log_every(const train_opts *o)
{
    if (o->log_every > 0) return o->log_every;
    return o->steps / 50 > 1 ? o->steps / 50 : 1;
}

FILE *train_out(run *r)
{
    if (r->progress && r->status_shown) {
        fputs("\r\033[K", r->progress);
        r->status_shown = 0;
    }
    return r->progress;
}

/* "1h02m", "3m05s", "42s". */
static void duration(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e9) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%.0fs", s);
}

static void progress_line(run *r, int64_t step, float loss, float lr, float norm, double ms, double tps, double eta)
{
    const uint64_t *b = r->step_bytes;
    char left[32];
    duration(left, sizeof left, eta);
    fprintf(r->progress, "step %5lld/%lld | loss %.4f | lr %.2e | norm %.3f | %.1f ms | %.0f tok/s | ETA %s",
            (long long)step + 1, (long long)r->o->steps, loss, lr, norm, ms, tps, left);
    if (r->ranks > 1)
        fprintf(r->progress, " | ranks %d | MB sent gcd/gpu/node %.2f/%.2f/%.2f", r->ranks, b[ST_LEVEL_GCD] / 1e6,
                b[ST_LEVEL_GPU] / 1e6, b[ST_LEVEL_NODE] / 1e6);
}

void train_report_step(run *r, int64_t step, int64_t end, float loss, float lr, float norm, double ms, double avg_ms)
{
    const train_opts *o = r->o;
    double tps = (double)(r->ranks * o->batch * r->T * o->grad_accum) / (ms / 1e3);
    double eta = avg_ms * (double)(end - step - 1) / 1e3;
    const uint64_t *b = r->step_bytes;
    int permanent = (step + 1) % train_log_every(o) == 0 || step == r->start || step + 1 == end;
    if (r->progress && permanent) {
        train_out(r); /* the status line, if shown, gives way */
        progress_line(r, step, loss, lr, norm, ms, tps, eta);
        fputc('\n', r->progress);
    } else if (r->progress && o->status_line && train_now_ms() - r->status_ms >= 100) {
        /* at most ten updates a second: a terminal is not a log */
        r->status_ms = train_now_ms();
        fputs("\r\033[K", r->progress);
        progress_line(r, step, loss, lr, norm, ms, tps, eta);
        fflush(r->progress);
        r->status_shown = 1;
    }
    if (!r->log) return;
    fprintf(r->log,
            "{\"step\": %lld, \"loss\": %.9g, \"lr\": %.6e, \"grad_norm\": %.6f, \"ms\": %.3f, "
            "\"tokens_per_s\": %.1f, \"ranks\": %d",
            (long long)step + 1, loss, lr, norm, ms, tps, r->ranks);
    if (r->ranks > 1)
        fprintf(r->log, ", \"bytes_gcd\": %llu, \"bytes_gpu\": %llu, \"bytes_node\": %llu, \"comm_ms_gcd\": %.3f, "
                "\"comm_ms_gpu\": %.3f, \"comm_ms_node\": %.3f",
                (unsigned long long)b[ST_LEVEL_GCD], (unsigned long long)b[ST_LEVEL_GPU],
                (unsigned long long)b[ST_LEVEL_NODE], r->step_comm_s[ST_LEVEL_GCD] * 1e3,
                r->step_comm_s[ST_LEVEL_GPU] * 1e3, r->step_comm_s[ST_LEVEL_NODE] * 1e3);
    fputs("}\n", r->log);
}
