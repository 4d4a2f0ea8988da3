/* Fuzz target: training data (st_dataset_open on bytes or an llm.c token file, then batches of
 * both splits and reads at their ends). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_dataset *ds = NULL;
    st_dataset_options o = {.val_fraction = size ? (double)(data[0] % 50) / 100 : 0.1};
    if (st_dataset_open(fuzz_file("in.data", data, size), &o, &ds) != ST_OK) return 0;
    int32_t in[2 * 8], tg[2 * 8];
    for (int split = ST_SPLIT_TRAIN; split <= ST_SPLIT_VAL; split++) {
        int64_t n = st_dataset_tokens(ds, (st_split)split);
        int64_t T = n > 9 ? 8 : n - 1;
        for (uint64_t step = 0; T >= 1 && step < 3; step++)
            st_dataset_batch_rank(ds, (st_split)split, 2, T, 1234, step, (int)step % 2, 2, in, tg);
        if (n >= 4) st_dataset_read(ds, (st_split)split, n - 4, 4, in);
    }
    st_dataset_destroy(ds);
    return 0;
}
