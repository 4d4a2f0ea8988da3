/* Conformance of the quant family (quantize, dequantize) against a double-precision reference.
 *
 * Reference, per block of `block` elements (the last may be shorter), qmax = 127 (bits 8) or 7:
 * amax = max |x|; a NaN in the block gives scale NaN, else amax = inf gives scale inf (q 0 in
 * both); amax = 0 gives scale 0, q 0; otherwise scale = amax / qmax and q = round-half-even(t)
 * with t = x qmax / amax, all in double.
 *
 * The rule for q: equal to the reference exactly, except where t lies within TIE_WINDOW
 * (4 f32 epsilons, relative) of a tie k + 0.5: there the backend's f32 arithmetic (qmax / amax and
 * the product each rounded once, about 1 ulp each, or 2.5 ulp for OpenCL's division) may land on
 * either side of the tie, so either neighbour is accepted. Ties the f32 arithmetic computes
 * exactly (scale a power of two: the "ties" data) must round to even with no such allowance.
 * The scale must be within 1 ulp of amax / qmax rounded to f32. Dequantize: q scale rounded once
 * to the output dtype, exactly; with accumulate, within one rounding of out + q scale. The round
 * trip must satisfy |dequant(quant(x)) - x| <= scale / 2 per element (plus f32 ulps). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include "conf.h"

#define TIE_WINDOW (4.0 * FLT_EPSILON)

enum qkind { K_RAND, K_TIES, K_OUTLIER, K_ZERO, K_NONFINITE, K_TINY, K_KINDS };
static const char *const kind_names[K_KINDS] = {"random", "ties", "outliers", "zero blocks", "nan/inf", "tiny"};

typedef struct qcase {
    int64_t n, block;
    int bits;
    enum qkind kind;
} qcase;

static const qcase cases[] = {
    {1000, 1, 8, K_RAND},        {1001, 7, 8, K_RAND},         {5000, 2048, 8, K_RAND},
    {300, 2048, 8, K_RAND},      {4099, 64, 8, K_RAND},        {1001, 2, 4, K_RAND},
    {4097, 2048, 4, K_RAND},     {333, 1024, 4, K_RAND},       {999, 10, 4, K_RAND},
    {2048, 256, 8, K_TIES},      {1536, 96, 4, K_TIES},        {257, 1, 8, K_TIES},
    {4000, 100, 8, K_OUTLIER},   {4001, 100, 4, K_OUTLIER},    {3000, 300, 8, K_ZERO},
    {3001, 300, 4, K_ZERO},      {1000, 100, 8, K_NONFINITE},  {999, 100, 4, K_NONFINITE},
    {100000, 2048, 8, K_RAND},   {100001, 4096, 4, K_RAND},    {500, 50, 8, K_TINY},
    {501, 50, 4, K_TINY},        {0, 16, 8, K_RAND},           {1, 16, 4, K_RAND},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static double qmax_of(int bits) { return bits == 8 ? 127.0 : 7.0; }
static int64_t payload(int64_t n, int bits) { return bits == 8 ? n : (n + 1) / 2; }
static int64_t nblocks(int64_t n, int64_t block) { return (n + block - 1) / block; }

/* Round half to even in double. */
static double rne(double t)
{
    double f = floor(t), d = t - f;
    return d < 0.5 ? f : d > 0.5 ? f + 1 : fmod(f, 2.0) == 0 ? f : f + 1;
}

/* Test data of case `q` in dtype dt (values already rounded to dt). */
static void make_data(conf *c, const qcase *q, st_dtype dt, double *x)
{
    double qm = qmax_of(q->bits);
    for (int64_t i = 0; i < q->n; i++) {
        int64_t b = i / q->block, j = i % q->block, len = q->n - b * q->block < q->block ? q->n - b * q->block : q->block;
        double v = conf_rand(c, -1, 1) * pow(10.0, (double)(b % 7) - 3.0);
        if (q->kind == K_TIES) { /* scale 2^e, t = k + 0.5 exactly, one element at qmax */
            double e = ldexp(1.0, (int)(b % 3) - 1);
            double k = floor(conf_rand(c, -qm, qm));
            v = j == b % len ? (b & 1 ? -qm : qm) * e : (k + 0.5) * e;
        } else if (q->kind == K_OUTLIER && ((b % 2 == 0 && j == 0) || (b % 2 == 1 && j == len - 1))) {
            v = b % 4 < 2 ? 1e30 : -3e35;
        } else if (q->kind == K_ZERO && b % 2 == 0) {
            v = j % 3 ? 0.0 : -0.0;
        } else if (q->kind == K_NONFINITE && j == len / 2 && b % 4 != 0) {
            v = b % 4 == 1 ? NAN : b % 4 == 2 ? INFINITY : -INFINITY;
        } else if (q->kind == K_TINY) {
            v = (conf_rand(c, 0, 1) < 0.5 ? -1 : 1) * (4e-36 + conf_rand(c, 0, 4e-36));
        }
        x[i] = conf_round(dt, v);
    }
}

/* The reference scale of each block, and q as the rounding of t (t[i] kept for the tie rule). */
static void quant_ref(const double *x, int64_t n, int64_t block, int bits, double *scale, double *t)
{
    double qm = qmax_of(bits);
    for (int64_t b = 0; b * block < n; b++) {
        int64_t i0 = b * block, len = n - i0 < block ? n - i0 : block;
        double amax = 0;
        int nan = 0;
        for (int64_t i = i0; i < i0 + len; i++) {
            nan |= isnan(x[i]);
            if (fabs(x[i]) > amax) amax = fabs(x[i]);
        }
        scale[b] = nan ? NAN : isinf(amax) ? INFINITY : (double)(float)(amax / qm);
        for (int64_t i = i0; i < i0 + len; i++) t[i] = nan || isinf(amax) || amax == 0 ? 0.0 : x[i] * (qm / amax);
    }
}

/* Element i of a q buffer as an integer. */
static int q_value(const int8_t *q, int64_t i, int bits)
{
    if (bits == 8) return q[i];
    int nib = ((uint8_t)q[i / 2] >> (i % 2 * 4)) & 15;
    return nib >= 8 ? nib - 16 : nib;
}

static st_tensor *upload(conf *c, check *k, st_dtype dt, int64_t n, const double *v)
{
    st_tensor *t = NULL;
    size_t es = st_dtype_size(dt);
    void *buf = malloc(es * (size_t)n + 1);
    for (int64_t i = 0; buf && i < n; i++) {
        if (dt == ST_F32) ((float *)buf)[i] = (float)v[i];
        else if (dt == ST_BF16) ((uint16_t *)buf)[i] = st_f32_to_bf16((float)v[i]);
        else ((int8_t *)buf)[i] = (int8_t)v[i];
    }
    if (!buf || !check_ok(k, st_tensor_create(c->dev, dt, 1, &n, &t), "st_tensor_create") ||
        !check_ok(k, st_tensor_write(t, buf, es * (size_t)n), "st_tensor_write")) {
        st_tensor_destroy(t);
        t = NULL;
    }
    free(buf);
    return t;
}

/* Reads a 1-d tensor of dtype dt into doubles (i8: the raw bytes into raw too). */
static int download(check *k, const st_tensor *t, st_dtype dt, int64_t n, double *v, int8_t *raw)
{
    size_t es = st_dtype_size(dt);
    void *buf = malloc(es * (size_t)n + 1);
    int ok = buf && check_ok(k, st_tensor_read(t, buf, es * (size_t)n), "st_tensor_read");
    for (int64_t i = 0; ok && i < n; i++) {
        if (dt == ST_F32) v[i] = ((float *)buf)[i];
        else if (dt == ST_BF16) v[i] = st_bf16_to_f32(((uint16_t *)buf)[i]);
        else raw[i] = ((int8_t *)buf)[i];
    }
    free(buf);
    return ok;
}

static double ulp_of(double r) { return r == 0 ? FLT_MIN * FLT_EPSILON : ldexp(1.0, ilogb(r) - 23); }

/* Compares q and scale of one case with the reference; returns 1 when they conform. */
static int compare_quant(check *k, const qcase *q, const double *x, const int8_t *gq, const double *gs,
                         const double *rs, const double *t)
{
    int64_t nb = nblocks(q->n, q->block);
    for (int64_t b = 0; b < nb; b++) {
        int same = (isnan(rs[b]) && isnan(gs[b])) || (isinf(rs[b]) && gs[b] == rs[b]) ||
                   (isfinite(rs[b]) && fabs(gs[b] - rs[b]) <= ulp_of(rs[b]));
        if (!same) {
            check_fail(k, "block %lld: scale %.9g, reference %.9g (1 ulp allowed)", (long long)b, gs[b], rs[b]);
            return 0;
        }
    }
    double qm = qmax_of(q->bits);
    for (int64_t i = 0; i < q->n; i++) {
        double ref = rne(t[i]), got = q_value(gq, i, q->bits);
        ref = ref > qm ? qm : ref < -qm ? -qm : ref;
        double tie = floor(t[i]) + 0.5;
        int near_tie = q->kind != K_TIES && fabs(t[i] - tie) <= TIE_WINDOW * fabs(t[i]);
        if (got != ref && !(near_tie && (got == floor(t[i]) || got == floor(t[i]) + 1))) {
            check_fail(k, "element %lld (block %lld): x %.9g, x qmax / amax = %.9g: q %g, reference %g", (long long)i,
                       (long long)(i / q->block), x[i], t[i], got, ref);
            return 0;
        }
    }
    if (q->bits == 4 && q->n % 2 && (((uint8_t)gq[q->n / 2]) >> 4) != 0) {
        check_fail(k, "the odd tail's high nibble is %d, not 0", ((uint8_t)gq[q->n / 2]) >> 4);
        return 0;
    }
    return 1;
}

/* Round trip: |q scale - x| <= scale / 2 (+ a few f32 ulps of x and of the scale). */
static void check_roundtrip(check *k, const qcase *q, const double *x, const double *y, const double *gs)
{
    for (int64_t i = 0; i < q->n; i++) {
        double s = gs[i / q->block];
        if (!isfinite(s)) {
            if (isfinite(y[i])) check_fail(k, "element %lld: block scale %g, yet dequantized to a finite %g", (long long)i, s, y[i]);
            continue;
        }
        double bound = s / 2 + 4 * FLT_EPSILON * (fabs(x[i]) + s);
        if (!(fabs(y[i] - x[i]) <= bound)) {
            check_fail(k, "element %lld: x %.9g came back as %.9g, off by more than scale/2 = %.9g", (long long)i, x[i], y[i],
                       s / 2);
            return;
        }
    }
}

/* Quantizes case q on the device, checks it, then dequantizes and checks the round trip. */
static void run_quant_case(conf *c, check *k, check *rt, const qcase *q, st_dtype dt)
{
    int64_t n = q->n, nb = nblocks(n, q->block), nq = payload(n, q->bits);
    double *x = calloc((size_t)(3 * n + 2 * nb + 2), sizeof(double)), *t = x + n, *y = t + n, *rs = y + n, *gs = rs + nb;
    int8_t *gq = calloc((size_t)nq + 1, 1);
    st_tensor *tx = NULL, *tq = NULL, *ts = NULL, *ty = NULL;
    make_data(c, q, dt, x);
    quant_ref(x, n, q->block, q->bits, rs, t);
    check_case(k, "n %lld, block %lld, int%d, %s", (long long)n, (long long)q->block, q->bits, kind_names[q->kind]);
    snprintf(rt->cas, sizeof rt->cas, "%s", k->cas);
    rt->cases++;
    tx = upload(c, k, dt, n, x);
    if (tx && check_ok(k, st_tensor_create(c->dev, ST_I8, 1, &nq, &tq), "create q") &&
        check_ok(k, st_tensor_create(c->dev, ST_F32, 1, &nb, &ts), "create scale") &&
        check_ok(k, st_quantize(tx, tq, ts, q->bits, q->block), "st_quantize") && download(k, tq, ST_I8, nq, NULL, gq) &&
        download(k, ts, ST_F32, nb, gs, NULL) && compare_quant(k, q, x, gq, gs, rs, t) &&
        check_ok(rt, st_tensor_create(c->dev, ST_F32, 1, &n, &ty), "create out") &&
        check_ok(rt, st_dequantize(tq, ts, ty, q->bits, q->block, 0), "st_dequantize") &&
        download(rt, ty, ST_F32, n, y, NULL))
        check_roundtrip(rt, q, x, y, gs);
    st_tensor *all[] = {tx, tq, ts, ty};
    for (int i = 0; i < 4; i++) st_tensor_destroy(all[i]);
    free(x);
    free(gq);
}

/* A call that must fail with `want`, its message naming the op and `needle`. */
static void expect_error(check *k, st_status got, st_status want, const char *op, const char *needle)
{
    const char *msg = st_last_error();
    if (got != want || !strstr(msg, op) || !strstr(msg, needle))
        check_fail(k, "expected status %d naming \"%s\" and \"%s\", got %d: %s", (int)want, op, needle, (int)got, msg);
}

static void quant_errors(conf *c)
{
    check k;
    check_begin(&k, "quantize", ST_F32, "errors", 0);
    check_case(&k, "bad bits, block, sizes, dtypes");
    st_tensor *x = NULL, *q = NULL, *s = NULL, *sbad = NULL, *qf = NULL, *o = NULL;
    int64_t n = 100, nq = 100, ns = 2, ns3 = 3;
    if (check_ok(&k, st_tensor_create(c->dev, ST_F32, 1, &n, &x), "create") &&
        check_ok(&k, st_tensor_create(c->dev, ST_I8, 1, &nq, &q), "create") &&
        check_ok(&k, st_tensor_create(c->dev, ST_F32, 1, &ns, &s), "create") &&
        check_ok(&k, st_tensor_create(c->dev, ST_F32, 1, &ns3, &sbad), "create") &&
        check_ok(&k, st_tensor_create(c->dev, ST_F32, 1, &nq, &qf), "create") &&
        check_ok(&k, st_tensor_create(c->dev, ST_F32, 1, &n, &o), "create")) {
        expect_error(&k, st_quantize(x, q, s, 3, 50), ST_ERR_INVALID_ARG, "quantize", "bits is 3");
        expect_error(&k, st_quantize(x, q, s, 8, 0), ST_ERR_INVALID_ARG, "quantize", "block is 0");
        expect_error(&k, st_quantize(x, q, s, 4, 51), ST_ERR_INVALID_ARG, "quantize", "block is 51");
        expect_error(&k, st_quantize(x, q, s, 4, 50), ST_ERR_SHAPE, "quantize", "q");
        expect_error(&k, st_quantize(x, q, sbad, 8, 50), ST_ERR_SHAPE, "quantize", "scale");
        expect_error(&k, st_quantize(x, qf, s, 8, 50), ST_ERR_DTYPE, "quantize", "q has dtype f32");
        expect_error(&k, st_quantize(q, q, s, 8, 50), ST_ERR_DTYPE, "quantize", "in has dtype i8");
        expect_error(&k, st_dequantize(q, s, o, 8, -5, 0), ST_ERR_INVALID_ARG, "dequantize", "block is -5");
        expect_error(&k, st_dequantize(q, sbad, o, 8, 50, 1), ST_ERR_SHAPE, "dequantize", "scale has 3");
        expect_error(&k, st_dequantize(q, s, o, 4, 50, 0), ST_ERR_SHAPE, "dequantize", "q holds 100 bytes");
        expect_error(&k, st_dequantize(q, s, q, 8, 50, 0), ST_ERR_DTYPE, "dequantize", "out has dtype i8");
        st_quant_params p = {.bits = 8, .block = 50, .accumulate = 1};
        expect_error(&k, st_op_run(ST_OP_QUANTIZE, (st_tensor *const[]){q, s}, 2, (const st_tensor *const[]){x}, 1, &p),
                     ST_ERR_INVALID_ARG, "quantize", "accumulate");
        if (st_quant_bytes(4097, 4, 2048) != 2049 + 12 || st_quant_bytes(100, 8, 50) != 108 || st_quant_bytes(10, 3, 2))
            check_fail(&k, "st_quant_bytes: %lld, %lld", (long long)st_quant_bytes(4097, 4, 2048),
                       (long long)st_quant_bytes(100, 8, 50));
    }
    st_tensor *all[] = {x, q, s, sbad, qf, o};
    for (int i = 0; i < 6; i++) st_tensor_destroy(all[i]);
    check_end(&k);
}

void test_quantize(conf *c, st_dtype dt)
{
    check k, rt;
    check_begin(&k, "quantize", dt, "fwd", 0);
    check_begin(&rt, "quantize", dt, "roundtrip", 0);
    for (int i = 0; i < N_CASES; i++) run_quant_case(c, &k, &rt, &cases[i], dt);
    check_end(&k);
    check_end(&rt);
    if (dt == ST_F32) quant_errors(c);
}

/* ---- dequantize: random payloads and scales (one NaN and one inf scale), both modes ---- */

typedef struct dqcase {
    int64_t n, block;
    int bits, acc;
} dqcase;

static const dqcase dq_cases[] = {
    {1000, 1, 8, 0},  {1001, 7, 8, 1},    {5000, 2048, 8, 0}, {300, 2048, 8, 1},  {1001, 2, 4, 0},
    {4097, 2048, 4, 1}, {333, 1024, 4, 0}, {999, 10, 4, 1},   {100000, 2048, 8, 1}, {0, 8, 8, 1},
};

static void run_dequant_case(conf *c, check *k, const dqcase *q, st_dtype dt)
{
    int64_t n = q->n, nb = nblocks(n, q->block), nq = payload(n, q->bits);
    double *raw = calloc((size_t)(nq + nb + 3 * n + 3), sizeof(double)), *s = raw + nq, *o0 = s + nb, *ref = o0 + n,
           *got = ref + n;
    double *mag = calloc((size_t)n + 1, sizeof(double));
    int8_t *bytes = calloc((size_t)nq + 1, 1);
    for (int64_t i = 0; i < nq; i++) {
        int lo = (int)floor(conf_rand(c, -7, 8)), hi = (int)floor(conf_rand(c, -7, 8));
        raw[i] = q->bits == 8 ? floor(conf_rand(c, -127, 128)) : (double)(int8_t)((lo & 15) | ((hi & 15) << 4));
        if (q->bits == 4 && i == nq - 1 && n % 2) raw[i] = lo & 15;
        bytes[i] = (int8_t)raw[i];
    }
    for (int64_t b = 0; b < nb; b++)
        s[b] = b == 1 ? NAN : b == 2 ? INFINITY : (double)(float)(conf_rand(c, 0, 1) * pow(10.0, (double)(b % 9) - 4.0));
    for (int64_t i = 0; i < n; i++) {
        o0[i] = q->acc ? conf_round(dt, conf_rand(c, -2, 2)) : 0.0;
        double v = (double)q_value(bytes, i, q->bits) * s[i / q->block];
        /* the device rounds q scale to f32, then to dt; accumulating, o + q scale once more */
        ref[i] = q->acc ? conf_round(dt, o0[i] + v) : conf_round(dt, (double)(float)v);
        mag[i] = fabs(o0[i]) + fabs(v);
    }
    check_case(k, "n %lld, block %lld, int%d%s", (long long)n, (long long)q->block, q->bits, q->acc ? ", accumulate" : "");
    st_tensor *tq = upload(c, k, ST_I8, nq, raw), *ts = upload(c, k, ST_F32, nb, s), *to = upload(c, k, dt, n, o0);
    if (tq && ts && to && check_ok(k, st_dequantize(tq, ts, to, q->bits, q->block, q->acc), "st_dequantize") &&
        download(k, to, dt, n, got, NULL)) {
        /* exact without accumulate; accumulating, one more rounding of dt (f32 via two roundings or an fma) */
        double tol = q->acc ? (dt == ST_BF16 ? ldexp(1.0, -8) : 2 * FLT_EPSILON) : 0.0;
        for (int64_t i = 0; i < n; i++) {
            int ok = isnan(ref[i]) ? isnan(got[i]) : isinf(ref[i]) ? got[i] == ref[i] : fabs(got[i] - ref[i]) <= tol * mag[i];
            if (!ok) {
                check_fail(k, "element %lld: q %d, scale %.9g, out before %.9g: got %.9g, reference %.9g", (long long)i,
                           q_value(bytes, i, q->bits), s[i / q->block], o0[i], got[i], ref[i]);
                break;
            }
        }
    }
    st_tensor_destroy(tq);
    st_tensor_destroy(ts);
    st_tensor_destroy(to);
    free(raw);
    free(mag);
    free(bytes);
}

void test_dequantize(conf *c, st_dtype dt)
{
    check k;
    check_begin(&k, "dequantize", dt, "fwd", 0);
    for (size_t i = 0; i < sizeof dq_cases / sizeof dq_cases[0]; i++) run_dequant_case(c, &k, &dq_cases[i], dt);
    check_end(&k);
}
