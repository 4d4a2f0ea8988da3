/* Conformance of rand_uniform and rand_normal: the Philox stream of docs/OPS.md (bit-exact for
 * uniform [0, 1) in f32), reproducibility and offsets, moments of a large draw, and equality with
 * the cpu backend. */
#include <math.h>
#include <stdlib.h>
#include "conf.h"
#include "ref.h"

typedef struct rcase {
    int nd;
    int64_t s[ST_MAX_DIMS];
    uint64_t seed, offset;
    float a, b;
} rcase;

static const rcase rcases[] = {
    {1, {0}, 1, 0, 0, 1},
    {0, {0}, 1, 0, 0, 1},
    {1, {1}, 42, 7, 0, 1},
    {1, {7}, 0, 0, 0, 1},
    {2, {13, 33}, 0x123456789abcdefull, 5, 0, 1},
    {4, {2, 3, 5, 7}, 0xffffffff00000001ull, 0xfffffff0ull, 0, 1}, /* counter crosses 2^32 */
    {2, {13, 33}, 3, 1ull << 40, -2, 3},
    {1, {1000}, 99, 0, 0.5f, 2.0f},
};
#define N_RCASES ((int)(sizeof rcases / sizeof rcases[0]))

static st_status draw(st_op op, st_tensor *t, uint64_t seed, uint64_t offset, float a, float b)
{
    return op == ST_OP_RAND_UNIFORM ? st_rand_uniform(t, seed, offset, a, b)
                                    : st_rand_normal(t, seed, offset, a, b);
}

static double ref_value(st_op op, st_dtype dt, const rcase *r, int64_t i)
{
    if (op == ST_OP_RAND_UNIFORM) return conf_round(dt, ref_uniform_f32(r->seed, r->offset + (uint64_t)i, r->a, r->b));
    return conf_round(dt, ref_normal(r->seed, r->offset + (uint64_t)i, r->a, r->b));
}

/* Against the reference stream. Uniform [0, 1) in f32 has no rounding at all: tolerance 0. */
static void stream_check(conf *c, st_dtype dt, st_op op, int exact)
{
    check k;
    check_begin(&k, st_op_name(op), dt, exact ? "philox bit-exact [0,1)" : "philox", exact ? 0.0 : conf_tol(dt));
    for (int i = 0; i < N_RCASES; i++) {
        const rcase *r = &rcases[i];
        int unit = r->a == 0 && r->b == 1, split = op == ST_OP_RAND_UNIFORM && dt == ST_F32;
        if (exact ? !unit : (split && unit)) continue;
        char s1[64];
        ht out = {0};
        check_case(&k, "%s seed %llx offset %llu [%g, %g)", shape_str(s1, sizeof s1, r->nd, r->s),
                   (unsigned long long)r->seed, (unsigned long long)r->offset, r->a, r->b);
        if (ht_out(c, &k, &out, dt, r->nd, r->s, i % 2 ? L_STEP : L_CONTIG) &&
            check_ok(&k, draw(op, out.t, r->seed, r->offset, r->a, r->b), st_op_name(op))) {
            double *ref = malloc(sizeof(double) * (size_t)(out.n + 1));
            for (int64_t e = 0; e < out.n; e++) ref[e] = ref_value(op, dt, r, e);
            ht_close(&k, &out, "out", ref, NULL, 1.0);
            free(ref);
        }
        ht_free(&out);
    }
    check_end(&k);
}

/* Same arguments, same bits; a draw at offset m equals the tail of a draw from 0. */
static void repro_check(conf *c, st_dtype dt, st_op op)
{
    int64_t n = 1000, m = 300, tail = 700;
    ht full = {0}, again = {0}, part = {0};
    check k;
    check_begin(&k, st_op_name(op), dt, "reproducible", 0.0);
    check_case(&k, "1000 at offset 0 twice, 700 at offset 300");
    if (ht_out(c, &k, &full, dt, 1, &n, L_CONTIG) && ht_out(c, &k, &again, dt, 1, &n, L_CONTIG) &&
        ht_out(c, &k, &part, dt, 1, &tail, L_CONTIG) &&
        check_ok(&k, draw(op, full.t, 77, 0, 0, 1), "draw") &&
        check_ok(&k, draw(op, again.t, 77, 0, 0, 1), "draw") &&
        check_ok(&k, draw(op, part.t, 77, (uint64_t)m, 0, 1), "draw") && ht_fetch(&k, &full) &&
        ht_fetch(&k, &again) && ht_fetch(&k, &part)) {
        check_close(&k, "second draw", again.v, full.v, NULL, n, 1.0);
        check_close(&k, "offset draw", part.v, full.v + m, NULL, tail, 1.0);
        check_case(&k, "another seed differs");
        if (check_ok(&k, draw(op, again.t, 78, 0, 0, 1), "draw") && ht_fetch(&k, &again)) {
            int same = 0;
            for (int64_t i = 0; i < n; i++) same += again.v[i] == full.v[i];
            if (same > n / 20) check_fail(&k, "seeds 77 and 78 agree on %d of %lld values", same, (long long)n);
        }
    }
    check_end(&k);
    ht_free(&full);
    ht_free(&again);
    ht_free(&part);
}

/* Mean and variance (and for normal the mass within one sigma) of 2^20 draws, within 6 sigma. */
static void moments_check(conf *c, st_dtype dt, st_op op)
{
    int64_t n = 1 << 20;
    ht out = {0};
    check k;
    check_begin(&k, st_op_name(op), dt, "moments (2^20 draws, 6 sigma)", 1.0);
    check_case(&k, "seed 2024");
    if (ht_out(c, &k, &out, dt, 1, &n, L_CONTIG) && check_ok(&k, draw(op, out.t, 2024, 0, 0, 1), "draw") &&
        ht_fetch(&k, &out)) {
        double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY, within = 0;
        for (int64_t i = 0; i < n; i++) {
            double x = out.v[i];
            s += x;
            lo = fmin(lo, x);
            hi = fmax(hi, x);
            within += fabs(x) < 1.0;
        }
        double mean = s / (double)n;
        for (int64_t i = 0; i < n; i++) s2 += (out.v[i] - mean) * (out.v[i] - mean);
        double var = s2 / (double)n, sq = sqrt((double)n), got[3], want[3], sig[3];
        int u = op == ST_OP_RAND_UNIFORM;
        got[0] = mean, want[0] = u ? 0.5 : 0.0, sig[0] = (u ? sqrt(1.0 / 12) : 1.0) / sq;
        got[1] = var, want[1] = u ? 1.0 / 12 : 1.0, sig[1] = (u ? sqrt(1.0 / 180) : sqrt(2.0)) / sq;
        got[2] = u ? mean : within / (double)n, want[2] = u ? 0.5 : 0.682689492, sig[2] = u ? sig[0] : 0.4655 / sq;
        for (int i = 0; i < 3; i++) {
            double z = fabs(got[i] - want[i]) / sig[i] / 6.0;
            if (z > k.max_err) k.max_err = z;
            if (!(z <= 1.0)) check_fail(&k, "statistic %d is %.6g, expected %.6g +- 6 x %.2g", i, got[i], want[i], sig[i]);
        }
        /* [0, 1) holds in f32; bf16 rounding takes values within 2^-9 of 1 up to 1 itself */
        if (u && (lo < 0.0 || hi > 1.0 || (hi == 1.0 && dt == ST_F32)))
            check_fail(&k, "uniform [0,1) drew values in [%g, %g]", lo, hi);
        if (!isfinite(lo) || !isfinite(hi)) check_fail(&k, "non-finite values drawn");
    }
    check_end(&k);
    ht_free(&out);
}

/* The same numbers as the cpu backend (within 1e-6: transcendental functions may differ). */
static void vs_cpu_check(conf *c, st_dtype dt, st_op op)
{
    if (c->is_cpu) {
        check_skip(st_op_name(op), dt, "vs cpu", "the backend under test is cpu");
        return;
    }
    int64_t n = 4099;
    ht out = {0};
    st_tensor *ct = NULL;
    check k;
    check_begin(&k, st_op_name(op), dt, "vs cpu", dt == ST_F32 ? 1e-6 : conf_tol(dt));
    check_case(&k, "4099 values, seed 5, offset 11");
    double *ref = malloc(sizeof(double) * (size_t)n);
    float *cf = malloc(sizeof(float) * (size_t)n);
    if (ht_out(c, &k, &out, dt, 1, &n, L_CONTIG) && check_ok(&k, draw(op, out.t, 5, 11, -1, 2), "draw") &&
        check_ok(&k, st_tensor_create(c->cpu, ST_F32, 1, &n, &ct), "create on cpu") &&
        check_ok(&k, draw(op, ct, 5, 11, -1, 2), "draw on cpu") &&
        check_ok(&k, st_tensor_read(ct, cf, sizeof(float) * (size_t)n), "read") && ht_fetch(&k, &out)) {
        for (int64_t i = 0; i < n; i++) ref[i] = conf_round(dt, cf[i]);
        check_close(&k, "out", out.v, ref, NULL, n, 1.0);
    }
    check_end(&k);
    free(ref);
    free(cf);
    st_tensor_destroy(ct);
    ht_free(&out);
}

static void random_test(conf *c, st_dtype dt, st_op op)
{
    if (op == ST_OP_RAND_UNIFORM && dt == ST_F32) stream_check(c, dt, op, 1);
    stream_check(c, dt, op, 0);
    repro_check(c, dt, op);
    moments_check(c, dt, op);
    vs_cpu_check(c, dt, op);
}

void test_rand_uniform(conf *c, st_dtype dt) { random_test(c, dt, ST_OP_RAND_UNIFORM); }
void test_rand_normal(conf *c, st_dtype dt) { random_test(c, dt, ST_OP_RAND_NORMAL); }
