/* The destructors' earlier names (st_tensor_free, st_comm_free, st_topo_free, st_dataset_close,
 * st_safetensors_close, st_llmc_close, st_ckpt_dir_close, st_tokenizer_free, st_token_buf_free,
 * st_tok_trainer_free) still link and release what they are given: callers
 * written before every destructor became st_<object>_destroy keep working. Under the sanitized
 * build a name that stopped releasing shows as a leak. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "../harness.h"
#include "strata/checkpoint.h"
#include "strata/ckpt_dir.h"
#include "strata/comm.h"
#include "strata/data.h"
#include "strata/topo.h"
#include "strata/tokenizer.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* calling them is the point */

h_counts h_total;

static void files(void)
{
    char dir[] = "/tmp/strata-deprecated-XXXXXX", data[64], st[64];
    if (!CHECK(mkdtemp(dir) != NULL, "mkdtemp")) return;
    snprintf(data, sizeof data, "%s/bytes.bin", dir);
    snprintf(st, sizeof st, "%s/t.safetensors", dir);
    FILE *f = fopen(data, "wb");
    if (!CHECK(f != NULL, "write %s", data)) return;
    fputs("the deprecated names still work\n", f);
    fclose(f);
    st_dataset *ds = NULL;
    CHECK_ST(st_dataset_open(data, NULL, &ds), ST_OK);
    CHECK(st_dataset_tokens(ds, ST_SPLIT_TRAIN) > 0, "dataset has tokens");
    st_dataset_close(ds);
    float v[2] = {1, 2};
    st_ckpt_tensor t = {.name = "w", .dtype = ST_F32, .ndim = 1, .shape = {2}, .data = v};
    CHECK_ST(st_safetensors_write(st, &t, 1, NULL, 0), ST_OK);
    st_safetensors *sf = NULL;
    CHECK_ST(st_safetensors_open(st, &sf), ST_OK);
    CHECK(st_safetensors_count(sf) == 1, "one tensor, got %d", st_safetensors_count(sf));
    st_safetensors_close(sf);
    unlink(data);
    unlink(st);
    rmdir(dir);
}

int main(void)
{
    st_device *cpu = NULL;
    CHECK_ST(st_device_get("cpu", 0, &cpu), ST_OK);
    int64_t shape[2] = {4, 8};
    st_tensor *x = NULL;
    CHECK_ST(st_tensor_create(cpu, ST_F32, 2, shape, &x), ST_OK);
    st_tensor_free(x);
    st_topo *topo = NULL;
    CHECK_ST(st_topo_load(&topo), ST_OK);
    st_topo_free(topo);
    files();
    st_comm_free(NULL); /* NULL is a no-op under both names */
    st_llmc_close(NULL);
    st_ckpt_dir_close(NULL);
    st_tokenizer_free(NULL);
    st_token_buf_free(NULL);
    st_tok_trainer_free(NULL);
    st_shutdown();
    return h_finish();
}
