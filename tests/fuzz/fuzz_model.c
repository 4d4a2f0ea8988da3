/* Fuzz target: a checkpoint used as a model (strata-train --model CKPT): the config read from its
 * safetensors metadata (n_layer, n_head, n_embd, n_ctx, vocab_size and wte.weight's rows), checked,
 * then the parameter specs made from it (where n_layer 1073741824 overflowed a heap buffer). */
#include "fuzz.h"
#include "ckpt.h"
#include "gpt2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gpt2_config c;
    char err[1024];
    if (ckpt_model_config(fuzz_file("model.safetensors", data, size), 0, &c, err, sizeof err) != 0) return 0;
    if (gpt2_config_check(&c, err, sizeof err) != 0) return 0;
    st_param_spec *specs = NULL;
    int n = 0;
    if (gpt2_param_specs(&c, 1, &specs, &n) == ST_OK && (n < 1 || !specs)) abort();
    free(specs);
    return 0;
}
