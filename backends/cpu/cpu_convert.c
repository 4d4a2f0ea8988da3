/* bf16 staging for the CPU backend's dense ops, which compute in f32. */
#include <stdlib.h>
#include "cpu_ops.h"

st_status cpu_as_f32(const st_view *v, const float **data, float **tmp)
{
    *tmp = NULL;
    if (v->dtype == ST_F32) {
        *data = cpu_ptr(v);
        return ST_OK;
    }
    int64_t n = cpu_numel(v);
    float *buf = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!buf) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu: bf16 staging of %lld elements", (long long)n);
    const uint16_t *src = cpu_ptr(v);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) buf[i] = cpu_bf16_to_f32(src[i]);
    *data = buf;
    *tmp = buf;
    return ST_OK;
}

st_status cpu_out_f32(const st_view *v, float **data, float **tmp, int load)
{
    if (v->dtype == ST_F32) {
        *tmp = NULL;
        *data = cpu_ptr(v);
        return ST_OK;
    }
    if (load) {
        const float *d;
        ST_TRY(cpu_as_f32(v, &d, tmp));
        *data = *tmp;
        return ST_OK;
    }
    int64_t n = cpu_numel(v);
    *tmp = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!*tmp) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "cpu: bf16 staging of %lld elements", (long long)n);
    *data = *tmp;
    return ST_OK;
}

void cpu_finish_f32(const st_view *v, float *tmp)
{
    if (!tmp) return;
    int64_t n = cpu_numel(v);
    uint16_t *dst = cpu_ptr(v);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) dst[i] = cpu_f32_to_bf16(tmp[i]);
    free(tmp);
}
