/* Double-precision references of the dense ops (docs/OPS.md), plain loops over contiguous arrays. */
#include <math.h>
#include <stdlib.h>
#include "ref.h"

void ref_matmul(double *out, double *scale, const double *a, const double *b, int64_t batch,
                int b_shared, int64_t M, int64_t N, int64_t K, int ta, int tb, double alpha,
                double beta, const double *old)
{
    for (int64_t z = 0; z < batch; z++) {
        const double *az = a + z * M * K, *bz = b + (b_shared ? 0 : z * K * N);
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0, mag = 0;
                for (int64_t k = 0; k < K; k++) {
                    double x = ta ? az[k * M + m] : az[m * K + k];
                    double y = tb ? bz[n * K + k] : bz[k * N + n];
                    s += x * y;
                    mag += fabs(x * y);
                }
                int64_t o = (z * M + m) * N + n;
                double prev = beta != 0 ? beta * old[o] : 0.0;
                out[o] = alpha * s + prev;
                scale[o] = fabs(alpha) * mag + fabs(prev);
            }
    }
}

void ref_reduce(double *out, double *scale, const double *x, int64_t outer, int64_t n,
                int64_t inner, st_op op)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            double s = 0, mag = 0, mx = -INFINITY;
            for (int64_t k = 0; k < n; k++) {
                double v = x[(o * n + k) * inner + j];
                s += v;
                mag += fabs(v);
                mx = v > mx ? v : mx;
            }
            double *y = out + o * inner + j;
            if (op == ST_OP_MAX) *y = mx;
            else if (op == ST_OP_MEAN) *y = n ? s / (double)n : NAN;
            else *y = s;
            scale[o * inner + j] = op == ST_OP_MAX ? fabs(mx) : op == ST_OP_MEAN ? mag / (double)n : mag;
        }
}

void ref_softmax(double *y, const double *x, int64_t rows, int64_t T, int64_t S, int causal)
{
    for (int64_t r = 0; r < rows; r++) {
        const double *xr = x + r * S;
        double *yr = y + r * S;
        int64_t last = causal ? r % T + S - T : S - 1; /* last column kept */
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= last; j++) mx = xr[j] > mx ? xr[j] : mx;
        for (int64_t j = 0; j <= last; j++) sum += exp(xr[j] - mx);
        for (int64_t j = 0; j < S; j++) yr[j] = j <= last ? exp(xr[j] - mx) / sum : 0.0;
    }
}

void ref_softmax_backward(double *dx, const double *dy, const double *y, int64_t rows, int64_t S)
{
    for (int64_t r = 0; r < rows; r++) {
        double dot = 0;
        for (int64_t j = 0; j < S; j++) dot += dy[r * S + j] * y[r * S + j];
        for (int64_t j = 0; j < S; j++) dx[r * S + j] = y[r * S + j] * (dy[r * S + j] - dot);
    }
}

void ref_layernorm(double *y, double *mean, double *rstd, const double *x, const double *w,
                   const double *b, int64_t rows, int64_t C, double eps)
{
    for (int64_t r = 0; r < rows; r++) {
        const double *xr = x + r * C;
        double m = 0, v = 0;
        for (int64_t j = 0; j < C; j++) m += xr[j];
        m /= (double)C;
        for (int64_t j = 0; j < C; j++) v += (xr[j] - m) * (xr[j] - m);
        double rs = 1.0 / sqrt(v / (double)C + eps);
        for (int64_t j = 0; j < C; j++) y[r * C + j] = (xr[j] - m) * rs * w[j] + b[j];
        mean[r] = m;
        rstd[r] = rs;
    }
}

void ref_layernorm_backward(double *dx, double *dw, double *db, const double *dy, const double *x,
                            const double *w, const double *mean, const double *rstd, int64_t rows,
                            int64_t C)
{
    for (int64_t j = 0; j < C; j++) dw[j] = db[j] = 0;
    for (int64_t r = 0; r < rows; r++) {
        double ag = 0, agx = 0;
        for (int64_t j = 0; j < C; j++) {
            double xh = (x[r * C + j] - mean[r]) * rstd[r], g = dy[r * C + j] * w[j];
            ag += g;
            agx += g * xh;
            dw[j] += dy[r * C + j] * xh;
            db[j] += dy[r * C + j];
        }
        ag /= (double)C;
        agx /= (double)C;
        for (int64_t j = 0; j < C; j++) {
            double xh = (x[r * C + j] - mean[r]) * rstd[r], g = dy[r * C + j] * w[j];
            dx[r * C + j] = rstd[r] * (g - ag - xh * agx);
        }
    }
}

void ref_cross_entropy(double *loss, double *probs, const double *logits, const double *targets,
                       int64_t rows, int64_t V)
{
    ref_softmax(probs, logits, rows, 1, V, 0);
    for (int64_t r = 0; r < rows; r++) {
        const double *l = logits + r * V;
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        for (int64_t j = 0; j < V; j++) s += exp(l[j] - mx);
        int64_t t = (int64_t)targets[r];
        loss[r] = t < 0 ? 0.0 : mx + log(s) - l[t];
    }
}

void ref_cross_entropy_backward(double *dlogits, const double *dloss, const double *probs,
                                const double *targets, int64_t rows, int64_t V)
{
    for (int64_t r = 0; r < rows; r++) {
        int64_t t = (int64_t)targets[r];
        for (int64_t j = 0; j < V; j++)
            dlogits[r * V + j] = t < 0 ? 0.0 : (probs[r * V + j] - (j == t)) * dloss[r];
    }
}

/* Scaled causal scores of one (b, h) block: s[t*T + j] for j <= t. */
static void scores(double *s, const double *q, const double *k, int64_t T, int64_t D)
{
    double sc = 1.0 / sqrt((double)D);
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j <= t; j++) {
            double d = 0;
            for (int64_t e = 0; e < D; e++) d += q[t * D + e] * k[j * D + e];
            s[t * T + j] = d * sc;
        }
}

/* Probabilities P[t*T + j] (j <= t) and lse of one block. */
static void probs_of(double *p, double *lse, const double *q, const double *k, int64_t T, int64_t D)
{
    scores(p, q, k, T, D);
    for (int64_t t = 0; t < T; t++) {
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j <= t; j++) mx = p[t * T + j] > mx ? p[t * T + j] : mx;
        for (int64_t j = 0; j <= t; j++) s += exp(p[t * T + j] - mx);
        lse[t] = mx + log(s);
        for (int64_t j = 0; j <= t; j++) p[t * T + j] = exp(p[t * T + j] - lse[t]);
    }
}

void ref_attention(double *o, double *lse, const double *q, const double *k, const double *v,
                   int64_t BH, int64_t T, int64_t D)
{
    double *p = malloc(sizeof(double) * (size_t)(T * T + 1));
    for (int64_t z = 0; p && z < BH; z++) {
        const double *qz = q + z * T * D, *kz = k + z * T * D, *vz = v + z * T * D;
        probs_of(p, lse + z * T, qz, kz, T, D);
        for (int64_t t = 0; t < T; t++)
            for (int64_t e = 0; e < D; e++) {
                double s = 0;
                for (int64_t j = 0; j <= t; j++) s += p[t * T + j] * vz[j * D + e];
                o[(z * T + t) * D + e] = s;
            }
    }
    free(p);
}

void ref_attention_backward(double *dq, double *dk, double *dv, const double *dout,
                            const double *q, const double *k, const double *v, int64_t BH,
                            int64_t T, int64_t D)
{
    double *p = malloc(sizeof(double) * (size_t)(T * T + 1)), *lse = malloc(sizeof(double) * (size_t)(T + 1));
    double sc = 1.0 / sqrt((double)D);
    for (int64_t i = 0; i < BH * T * D; i++) dq[i] = dk[i] = dv[i] = 0;
    for (int64_t z = 0; p && lse && z < BH; z++) {
        int64_t base = z * T * D;
        const double *qz = q + base, *kz = k + base, *vz = v + base, *dz = dout + base;
        probs_of(p, lse, qz, kz, T, D);
        for (int64_t t = 0; t < T; t++) {
            /* D_t = dout_t . o_t = sum_j P_tj dP_tj */
            double Dt = 0;
            for (int64_t j = 0; j <= t; j++) {
                double dp = 0;
                for (int64_t e = 0; e < D; e++) dp += dz[t * D + e] * vz[j * D + e];
                Dt += p[t * T + j] * dp;
            }
            for (int64_t j = 0; j <= t; j++) {
                double dp = 0;
                for (int64_t e = 0; e < D; e++) dp += dz[t * D + e] * vz[j * D + e];
                double ds = p[t * T + j] * (dp - Dt);
                for (int64_t e = 0; e < D; e++) {
                    dq[base + t * D + e] += ds * kz[j * D + e] * sc;
                    dk[base + j * D + e] += ds * qz[t * D + e] * sc;
                    dv[base + j * D + e] += p[t * T + j] * dz[t * D + e];
                }
            }
        }
    }
    free(p);
    free(lse);
}
