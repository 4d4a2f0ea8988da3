/* Fuzz target: llm.c model files (st_llmc_open, the config, every named parameter read). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_llmc_model *m = NULL;
    if (st_llmc_open(fuzz_file("in.bin", data, size), &m) != ST_OK) return 0;
    st_llmc_config c;
    st_llmc_config_get(m, &c);
    for (int i = 0; i < st_llmc_param_count(m) && i < 4096; i++) {
        st_ckpt_info info;
        if (st_llmc_param_info(m, i, &info) != ST_OK) abort();
        if (info.bytes > (64u << 20)) continue;
        float *buf = malloc(info.bytes + 4);
        if (buf) st_llmc_read(m, info.name, buf, info.bytes);
        free(buf);
    }
    st_llmc_destroy(m);
    return 0;
}
