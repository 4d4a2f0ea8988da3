/* strata-train: trains GPT-2 on a text or llm.c token file on the backend STRATA_BACKEND names. */
#include <stdio.h>
#include "strata/strata.h"
#include "trainer.h"

int main(int argc, char **argv)
{
    train_opts o;
    train_stats stats;
    char err[1024];
    train_opts_default(&o);
    int r = train_parse_args(argc, argv, &o, stdout, err, sizeof err);
    if (r == 1) return 0;
    o.stats = &stats;
    if (r == 0) r = train_run(&o, stdout, NULL, err, sizeof err);
    if (r == 0) train_print_stats(&stats, o.peak_gflops, stdout);
    st_shutdown();
    if (r) fprintf(stderr, "strata-train: error: %s\n", err);
    return r ? 1 : 0;
}
