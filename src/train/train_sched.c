/* strata-train's learning-rate schedules (--lr-schedule), in double. cosine is st_lr_cosine
 * (nanoGPT's get_lr); linear and wsd share its warmup and take their decay shapes from llm.c's
 * schedulers (wsd: stable at lr until 80% of the steps, then min_lr + (1 - sqrt(r)) (lr - min_lr)). */
#include <math.h>
#include "strata/optim.h"
#include "trainer.h"

const char *const TRAIN_SCHED_NAMES[4] = {"cosine", "linear", "constant", "wsd"};
const char *const TRAIN_DATA_ORDER_NAMES[2] = {"random", "sequential"};

double train_min_lr(const train_opts *o)
{
    return o->min_lr >= 0 ? o->min_lr : o->lr * o->min_lr_ratio;
}

/* Fraction r in [0, 1] of the way from `from` to `to` at step (1 past to, 0 before from). */
static double ramp(int64_t step, int64_t from, int64_t to)
{
    if (step >= to) return 1.0;
    if (step <= from || to <= from) return 0.0;
    return ((double)step - (double)from) / ((double)to - (double)from);
}

double train_lr(const train_opts *o, int64_t warmup, int64_t step)
{
    double max = o->lr, min = train_min_lr(o);
    if (warmup < 0) warmup = 0;
    if (step < 0) step = 0;
    if (o->lr_schedule == TRAIN_SCHED_CONSTANT) return max;
    if (o->lr_schedule == TRAIN_SCHED_COSINE) {
        st_lr_schedule s = {.max_lr = max, .min_lr = min, .warmup_steps = warmup, .total_steps = o->steps};
        return st_lr_cosine(&s, step);
    }
    if (step < warmup) return max * ((double)step + 1.0) / ((double)warmup + 1.0);
    if (o->lr_schedule == TRAIN_SCHED_LINEAR) return max - ramp(step, warmup, o->steps) * (max - min);
    /* wsd: the decay starts at 80% of the steps (or at the warmup's end when that is later) */
    int64_t decay = (int64_t)(0.8 * (double)o->steps);
    if (decay < warmup) decay = warmup;
    if (step < decay) return max;
    return min + (1.0 - sqrt(ramp(step, decay, o->steps))) * (max - min);
}
