/* Conformance checks: one reported line per op/dtype/kind, error metrics and tolerances, and the
 * host RNG for test data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "conf.h"

void check_begin(check *k, const char *op, st_dtype dt, const char *kind, double tol)
{
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s %s %s", op, st_dtype_name(dt), kind);
    k->tol = tol;
}

void check_case(check *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->cas, sizeof k->cas, fmt, ap);
    va_end(ap);
    k->cases++;
}

void check_fail(check *k, const char *fmt, ...)
{
    if (k->failed++ == 0) {
        char msg[600];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(k->why, sizeof k->why, "case %s: %s", k->cas, msg);
    }
}

int check_ok(check *k, st_status s, const char *what)
{
    if (s == ST_OK) return 1;
    check_fail(k, "%s returned %s", what, st_last_error());
    return 0;
}

/* Error of one element; +inf when special values disagree. */
static double elem_err(double got, double ref, double scale, double floor)
{
    if (isnan(ref) || isnan(got)) return isnan(ref) && isnan(got) ? 0.0 : INFINITY;
    if (isinf(ref) || isinf(got)) return got == ref ? 0.0 : INFINITY;
    double s = fabs(scale) > floor ? fabs(scale) : floor;
    return fabs(got - ref) / s;
}

int check_close(check *k, const char *what, const double *got, const double *ref,
                const double *scale, int64_t n, double floor)
{
    double worst = 0.0;
    int64_t wi = -1;
    for (int64_t i = 0; i < n; i++) {
        double e = elem_err(got[i], ref[i], scale ? scale[i] : ref[i], floor);
        if (!(e <= worst)) {
            worst = e;
            wi = i;
        }
    }
    if (worst > k->max_err || isnan(worst)) k->max_err = worst;
    if (wi >= 0 && !(worst <= k->tol)) {
        check_fail(k, "%s[%lld] = %.9g, reference %.9g (error %.3g > tol %.3g)", what,
                   (long long)wi, got[wi], ref[wi], worst, k->tol);
        return 0;
    }
    return 1;
}

void check_end(check *k)
{
    if (!k->cases && !k->failed) check_fail(k, "no case ran: a line that cannot fail");
    if (k->failed) {
        h_total.failed++;
        printf("FAIL %-40s %3d cases, %d failed; max err %.2e tol %.1e\n     %s\n", k->name,
               k->cases, k->failed, k->max_err, k->tol, k->why);
    } else {
        h_total.passed++;
        printf("PASS %-40s %3d cases, max err %.2e tol %.1e\n", k->name, k->cases, k->max_err,
               k->tol);
    }
    fflush(stdout);
}

void check_skip(const char *op, st_dtype dt, const char *kind, const char *why)
{
    char name[96];
    snprintf(name, sizeof name, "%s %s %s", op, st_dtype_name(dt), kind);
    h_skip("%-40s %s", name, why);
}

double conf_tol(st_dtype dt)
{
    return dt == ST_BF16 ? 1e-2 : dt == ST_F32 ? 1e-5 : 0.0;
}

double conf_tol_ew(st_dtype dt)
{
    return dt == ST_F32 ? 2e-6 : conf_tol(dt);
}

/* Rounding errors of a sum of n terms grow like sqrt(n) in practice (n in the worst case);
 * the metric divides by the sum of the terms' magnitudes. */
double conf_tol_sum(st_dtype dt, int64_t n)
{
    double f = sqrt((double)(n > 16 ? n : 16) / 16.0);
    return conf_tol(dt) * f;
}

uint64_t conf_rand_u64(conf *c)
{
    uint64_t z = (c->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double conf_rand(conf *c, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(conf_rand_u64(c) >> 11) * 0x1.0p-53);
}

double *conf_weights(conf *c, int64_t n)
{
    double *w = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; w && i < n; i++) w[i] = conf_rand(c, -1.0, 1.0);
    return w;
}

double conf_dot(const ht *h, const double *w)
{
    double s = 0.0;
    for (int64_t i = 0; i < h->n; i++) s += h->v[i] * w[i];
    return s;
}

int fd_check(check *k, const char *what, ht *in, const double *grad, fd_run run, void *ctx,
             double eps)
{
    size_t bytes = sizeof(double) * (size_t)(in->n + 1);
    double *fd = malloc(bytes), *x = malloc(bytes), *scale = malloc(bytes);
    int ok = fd && x && scale;
    if (!ok) check_fail(k, "out of host memory");
    double gmax = 0.0;
    for (int64_t i = 0; ok && i < in->n; i++) {
        x[i] = in->v[i];
        gmax = fmax(gmax, fabs(grad[i]));
    }
    for (int64_t i = 0; ok && i < in->n; i++) {
        double lp = 0, lm = 0, x0 = x[i];
        double xp = conf_round(in->dt, x0 + eps), xm = conf_round(in->dt, x0 - eps);
        x[i] = xp;
        ok = ht_set(k, in, x) && run(ctx, k, &lp);
        x[i] = xm;
        ok = ok && ht_set(k, in, x) && run(ctx, k, &lm);
        x[i] = x0;
        fd[i] = (lp - lm) / (xp - xm);
        scale[i] = gmax;
    }
    ok = ok && ht_set(k, in, x);
    if (ok) ok = check_close(k, what, grad, fd, scale, in->n, 0.1);
    free(fd);
    free(x);
    free(scale);
    return ok;
}

const char *shape_str(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}
