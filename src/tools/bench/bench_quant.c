/* strata-bench's quantization stream cases (issue 17): quantize and dequantize over
 * cfg->stream_elems f32 elements in blocks of ST_QUANT_BLOCK_DEFAULT, int8 and int4, dequantize
 * both overwriting (qwZ's gather) and accumulating into f32 (qgZ's reduction), each beside the
 * triad probe taken just before and after it. Bytes are what a call must stream: the f32 array
 * (read and written again when accumulating), the payload and the scales. */
#include <stdio.h>
#include <string.h>
#include "bench.h"

typedef struct quant_ctx {
    st_device *dev;
    st_tensor *x, *y, *q8, *q4, *s;
    int bits, acc, quantize;
} quant_ctx;

static const struct quant_case {
    const char *name;
    int bits, acc, quantize;
} quant_cases[] = {
    {"quantize", 8, 0, 1},
    {"quantize", 4, 0, 1},
    {"dequantize", 8, 0, 0},
    {"dequantize", 4, 1, 0},
};

static st_status run_quant(void *p)
{
    quant_ctx *c = p;
    st_tensor *q = c->bits == 8 ? c->q8 : c->q4;
    st_status s = c->quantize ? st_quantize(c->x, q, c->s, c->bits, ST_QUANT_BLOCK_DEFAULT)
                              : st_dequantize(q, c->s, c->y, c->bits, ST_QUANT_BLOCK_DEFAULT, c->acc);
    return s == ST_OK ? st_device_sync(c->dev) : s;
}

/* Every tensor made and touched, the payloads quantized from x, before timing. */
static st_status quant_setup(quant_ctx *c, int64_t n)
{
    int64_t n4 = (n + 1) / 2, nb = (n + ST_QUANT_BLOCK_DEFAULT - 1) / ST_QUANT_BLOCK_DEFAULT;
    st_status s = st_tensor_create(c->dev, ST_F32, 1, &n, &c->x);
    if (s == ST_OK) s = st_tensor_create(c->dev, ST_F32, 1, &n, &c->y);
    if (s == ST_OK) s = st_tensor_create(c->dev, ST_I8, 1, &n, &c->q8);
    if (s == ST_OK) s = st_tensor_create(c->dev, ST_I8, 1, &n4, &c->q4);
    if (s == ST_OK) s = st_tensor_create(c->dev, ST_F32, 1, &nb, &c->s);
    if (s == ST_OK) s = st_rand_uniform(c->x, 3, 0, -2.0f, 2.0f);
    if (s == ST_OK) s = st_fill(c->y, 0.0);
    if (s == ST_OK) s = st_quantize(c->x, c->q8, c->s, 8, ST_QUANT_BLOCK_DEFAULT);
    if (s == ST_OK) s = st_quantize(c->x, c->q4, c->s, 4, ST_QUANT_BLOCK_DEFAULT);
    if (s == ST_OK) s = st_device_sync(c->dev);
    return s;
}

static void quant_free(quant_ctx *c)
{
    st_tensor *all[] = {c->x, c->y, c->q8, c->q4, c->s};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) st_tensor_destroy(all[i]);
}

static bench_row *add(bench_report *r, bench_device *d, const struct quant_case *e, int64_t n)
{
    char size[64];
    snprintf(size, sizeof size, "%lldM f32, int%d, block %d%s", (long long)(n >> 20), e->bits, ST_QUANT_BLOCK_DEFAULT,
             e->acc ? ", +=" : "");
    double bytes = (double)n * 4.0 * (e->acc ? 2 : 1) + (double)st_quant_bytes(n, e->bits, ST_QUANT_BLOCK_DEFAULT);
    return bench_add_row(r, d, "stream", e->name, size, BENCH_GBPS, (e->quantize ? 3.0 : 1.0 + e->acc) * (double)n,
                         bytes);
}

void bench_quant(const bench_config *cfg, bench_report *r, bench_device *d)
{
    int is_cpu = strcmp(d->backend, "cpu") == 0;
    int64_t n = cfg->stream_elems;
    quant_ctx c = {.dev = d->dev};
    st_status setup = quant_setup(&c, n);
    char why[256] = "";
    if (setup != ST_OK) snprintf(why, sizeof why, "setup: %s", st_last_error());
    for (size_t i = 0; i < sizeof quant_cases / sizeof quant_cases[0]; i++) {
        const struct quant_case *e = &quant_cases[i];
        bench_row *row = add(r, d, e, n);
        if (!row) break;
        int index = (int)(row - r->rows);
        bench_progress(cfg, r, row);
        if (setup != ST_OK) {
            row->status = setup;
            snprintf(row->error, sizeof row->error, "%s", why);
            continue;
        }
        c.bits = e->bits, c.acc = e->acc, c.quantize = e->quantize;
        double before = is_cpu ? bench_triad_now(cfg, r) : 0.0;
        st_status s = bench_time(cfg, run_quant, &c, &r->rows[index].t);
        if (s != ST_OK) bench_row_fail(&r->rows[index], s);
        double after = is_cpu ? bench_triad_now(cfg, r) : 0.0;
        r->rows[index].yardstick = before > after ? before : after;
    }
    quant_free(&c);
}
