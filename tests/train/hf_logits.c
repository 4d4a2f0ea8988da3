/* Test helper for hf_check.py: the logits strata-train's model computes for a sequence of tokens,
 * from --model's source (a checkpoint or Hugging Face directory, a .safetensors file, llmc:FILE).
 * usage: hf_logits MODEL OUT TOKEN...   writes n x V f32 logits (row-major) to OUT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ckpt.h"
#include "gpt2.h"

static int fail(const char *what, const char *err)
{
    fprintf(stderr, "hf_logits: %s: %s\n", what, err);
    return 1;
}

int main(int argc, char **argv)
{
    char err[1024];
    if (argc < 4) return fail("usage", "hf_logits MODEL OUT TOKEN...");
    int n = argc - 3;
    gpt2_config cfg;
    if (ckpt_model_config(argv[1], 0, &cfg, err, sizeof err)) return fail(argv[1], err);
    st_device *dev;
    st_param_spec *specs;
    st_params *ps;
    int np;
    if (st_device_default(&dev) || gpt2_param_specs(&cfg, 1, &specs, &np) || st_params_create(dev, specs, np, &ps))
        return fail("setup", st_last_error());
    free(specs);
    if (ckpt_model_load(argv[1], ps, cfg.V, err, sizeof err)) return fail("load", err);
    gpt2_graph m;
    if (gpt2_graph_create(&m, &cfg, ps, 1, n, ST_F32)) return fail("graph", st_last_error());
    int32_t *in = calloc((size_t)n, sizeof *in), *tg = calloc((size_t)n, sizeof *tg);
    for (int i = 0; i < n; i++) in[i] = atoi(argv[3 + i]);
    float loss;
    size_t bytes = sizeof(float) * (size_t)n * (size_t)cfg.V;
    float *out = malloc(bytes);
    if (gpt2_forward(&m, in, tg, &loss) || st_tensor_read(st_graph_value(m.plan, m.logits), out, bytes))
        return fail("forward", st_last_error());
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(out, 1, bytes, f) != bytes || fclose(f)) return fail(argv[2], "cannot write");
    printf("%d tokens, V=%d: logits in %s\n", n, cfg.V, argv[2]);
    free(in), free(tg), free(out);
    gpt2_graph_destroy(&m);
    st_params_destroy(ps);
    st_shutdown();
    return 0;
}
