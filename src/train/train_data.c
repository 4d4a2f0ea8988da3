/* strata-train's batches in the order --data-order names: random windows (st_dataset_batch_rank,
 * drawn from (seed, index)), or llm.c's DataLoader without shuffling (llmc/dataloader.h): the
 * split is cut into samples of ranks x B x T tokens, there are (n - 1) / (ranks B T) of them, batch
 * `index` is sample index mod that count, and rank r reads the B T + 1 tokens from
 * sample x ranks B T + r B T: row b's inputs are tokens [b T, b T + T) of that run and its targets
 * the same shifted by one. Both depend only on the index, so a resumed run reads the same data. */
#include "train_run.h"

int64_t train_seq_block(const run *r)
{
    return (int64_t)r->ranks * r->o->batch * r->T;
}

st_status train_batch(const run *r, st_split split, uint64_t seed, uint64_t index, int32_t *in, int32_t *tg)
{
    const train_opts *o = r->o;
    if (o->data_order != TRAIN_DATA_SEQUENTIAL)
        return st_dataset_batch_rank(r->ds, split, o->batch, r->T, seed, index, r->rank, r->ranks, in, tg);
    int64_t n = st_dataset_tokens(r->ds, split), block = train_seq_block(r), bt = o->batch * r->T;
    if (n < block + 1) return st_dataset_read(r->ds, split, 0, block + 1, in); /* the read's own error */
    int64_t samples = (n - 1) / block;
    int64_t start = (int64_t)(index % (uint64_t)samples) * block + (int64_t)r->rank * bt;
    st_status s = st_dataset_read(r->ds, split, start, bt, in);
    return s ? s : st_dataset_read(r->ds, split, start + 1, bt, tg);
}
