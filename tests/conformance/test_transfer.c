/* Cross-backend copies: st_tensor_to and st_tensor_copy between the device under test and cpu,
 * both directions, contiguous and strided on either side, every dtype, bit-exact. */
#include <stdlib.h>
#include "conf.h"

typedef struct tcase {
    int nd;
    int64_t s[ST_MAX_DIMS];
    layout lsrc, ldst;
} tcase;

static const tcase tcases[] = {
    {0, {0}, L_CONTIG, L_CONTIG},          {1, {0}, L_CONTIG, L_CONTIG},
    {1, {7}, L_CONTIG, L_STEP},            {2, {13, 33}, L_TRANS, L_CONTIG},
    {2, {13, 33}, L_STEP, L_TRANS},        {4, {2, 3, 5, 7}, L_SWAP12, L_STEP},
    {2, {129, 513}, L_CONTIG, L_CONTIG},   {2, {13, 33}, L_BCAST, L_CONTIG},
};
#define N_TCASES ((int)(sizeof tcases / sizeof tcases[0]))

/* st_tensor_to(src on `from`, `to`), then st_tensor_copy(dst view on `to`, src). */
static void one_way(conf *c, check *k, st_dtype dt, const tcase *t, int to_cpu)
{
    conf from = *c, to = *c;
    if (to_cpu) to.dev = c->cpu;
    else from.dev = c->cpu;
    char s1[64];
    check_case(k, "%s %s %s -> %s %s", st_device_label(from.dev), shape_str(s1, sizeof s1, t->nd, t->s),
               layout_name(t->lsrc), st_device_label(to.dev), layout_name(t->ldst));
    ht src = {0}, dst = {0};
    st_tensor *moved = NULL;
    double lo = dt == ST_I32 ? -1e9 : dt == ST_I8 ? -128 : -1e4, hi = dt == ST_I8 ? 128 : -lo;
    if (ht_rand(&from, k, &src, dt, t->nd, t->s, t->lsrc, lo, hi) &&
        check_ok(k, st_tensor_to(src.t, to.dev, &moved), "st_tensor_to")) {
        if (st_tensor_device(moved) != to.dev || !st_tensor_is_contiguous(moved) || st_tensor_dtype(moved) != dt)
            check_fail(k, "st_tensor_to gave a tensor on %s, contiguous %d, %s", st_device_label(st_tensor_device(moved)),
                       st_tensor_is_contiguous(moved), st_dtype_name(st_tensor_dtype(moved)));
        size_t es = st_dtype_size(dt);
        void *buf = malloc(es * (size_t)src.n + 1);
        double *got = malloc(sizeof(double) * (size_t)(src.n + 1));
        if (check_ok(k, st_tensor_read(moved, buf, es * (size_t)src.n), "st_tensor_read")) {
            for (int64_t i = 0; i < src.n; i++) got[i] = conf_decode(dt, buf, i);
            check_close(k, "st_tensor_to result", got, src.v, NULL, src.n, 1.0);
        }
        free(buf);
        free(got);
    }
    if (ht_out(&to, k, &dst, dt, t->nd, t->s, t->ldst) &&
        check_ok(k, st_tensor_copy(dst.t, src.t), "st_tensor_copy"))
        ht_close(k, &dst, "st_tensor_copy result", src.v, NULL, 1.0);
    c->rng = from.rng;
    st_tensor_destroy(moved);
    ht_free(&src);
    ht_free(&dst);
}

/* Mismatched dtype or shape across devices is refused before anything moves. */
static void refusals(conf *c, check *k)
{
    int64_t s1[2] = {3, 4}, s2[2] = {4, 3};
    st_tensor *a = NULL, *b = NULL, *d = NULL;
    check_case(k, "dtype and shape mismatches");
    if (check_ok(k, st_tensor_create(c->dev, ST_F32, 2, s1, &a), "create") &&
        check_ok(k, st_tensor_create(c->cpu, ST_BF16, 2, s1, &b), "create") &&
        check_ok(k, st_tensor_create(c->cpu, ST_F32, 2, s2, &d), "create")) {
        st_status s = st_tensor_copy(b, a);
        if (s != ST_ERR_DTYPE) check_fail(k, "copy f32 -> bf16 across devices gave %s", st_status_string(s));
        s = st_tensor_copy(d, a);
        if (s != ST_ERR_SHAPE) check_fail(k, "copy [3,4] -> [4,3] gave %s", st_status_string(s));
    }
    st_tensor_destroy(a);
    st_tensor_destroy(b);
    st_tensor_destroy(d);
}

void test_transfer(conf *c)
{
    static const st_dtype dts[4] = {ST_F32, ST_BF16, ST_I32, ST_I8};
    for (int d = 0; d < 4; d++) {
        check k;
        check_begin(&k, "transfer", dts[d], "cpu <-> device (bit-exact)", 0.0);
        for (int i = 0; i < N_TCASES; i++) {
            one_way(c, &k, dts[d], &tcases[i], 1);
            one_way(c, &k, dts[d], &tcases[i], 0);
        }
        if (d == 0) refusals(c, &k);
        check_end(&k);
    }
}
