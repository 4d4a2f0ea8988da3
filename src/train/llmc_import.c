/* --model llmc:FILE: the config and weights of an llm.c model checkpoint (gpt2_124M.bin and the
 * like). llm.c stores matrices as (out, in); this model keeps Hugging Face's (in, out), so every
 * weight matrix but the embeddings is transposed on the way in. */
#include <stdlib.h>
#include <string.h>
#include "gpt2.h"

st_status gpt2_llmc_config(const st_llmc_model *f, gpt2_config *out)
{
    st_llmc_config c;
    st_status s = st_llmc_config_get(f, &c);
    if (s) return s;
    *out = (gpt2_config){.L = c.num_layers, .H = c.num_heads, .C = c.channels,
                         .T = c.max_seq_len, .V = c.vocab_size, .Vp = c.padded_vocab_size};
    return ST_OK;
}

/* Parameter i of ps from the file: (rows, cols) in ps is (cols, rows) in llm.c when `flip`. */
static st_status import_one(const st_llmc_model *f, st_params *ps, int i, float *buf, float *tr)
{
    st_param_info in;
    st_tensor *p;
    st_status s = st_params_info(ps, i, &in);
    if (!s) s = st_params_get(ps, i, &p, NULL);
    size_t bytes = sizeof(float) * (size_t)in.numel;
    if (!s) s = st_llmc_read(f, in.name, buf, bytes);
    if (s) return s;
    int flip = in.ndim == 2 && strcmp(in.name, "wte.weight") && strcmp(in.name, "wpe.weight");
    if (!flip) return st_tensor_write(p, buf, bytes);
    int64_t rows = in.shape[0], cols = in.shape[1]; /* ours (in, out); the file's (out, in) */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) tr[r * cols + c] = buf[c * rows + r];
    return st_tensor_write(p, tr, bytes);
}

st_status gpt2_llmc_load(const st_llmc_model *f, st_params *ps)
{
    int64_t most = 1;
    for (int i = 0; i < st_params_count(ps); i++) {
        st_param_info in;
        if (st_params_info(ps, i, &in) == ST_OK && in.numel > most) most = in.numel;
    }
    float *buf = malloc(sizeof(float) * (size_t)most), *tr = malloc(sizeof(float) * (size_t)most);
    st_status s = buf && tr ? ST_OK : ST_ERR_OUT_OF_MEMORY;
    for (int i = 0; !s && i < st_params_count(ps); i++) s = import_one(f, ps, i, buf, tr);
    free(buf);
    free(tr);
    return s;
}
