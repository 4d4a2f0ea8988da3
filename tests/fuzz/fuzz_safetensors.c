/* Fuzz target: safetensors files (st_safetensors_open, then every tensor, name and metadata entry). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_safetensors *f = NULL;
    if (st_safetensors_open(fuzz_file("in.safetensors", data, size), &f) != ST_OK) return 0;
    for (int i = 0; i < st_safetensors_count(f); i++) {
        st_ckpt_info info, again;
        if (st_safetensors_info(f, i, &info) != ST_OK) abort();
        if (st_safetensors_find(f, info.name, &again) != ST_OK || again.bytes != info.bytes) abort();
        if (info.bytes > (64u << 20)) continue;
        void *buf = malloc(info.bytes + 1);
        if (buf) st_safetensors_read(f, info.name, buf, info.bytes);
        free(buf);
    }
    for (int i = 0; i < st_safetensors_meta_count(f); i++) {
        const char *k, *v;
        if (st_safetensors_meta_at(f, i, &k, &v) != ST_OK || !st_safetensors_meta(f, k)) abort();
    }
    st_safetensors_destroy(f);
    return 0;
}
