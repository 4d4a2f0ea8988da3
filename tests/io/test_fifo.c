/* Every file reader refuses a FIFO (and a directory) at once instead of waiting for a writer that
 * never comes: safetensors, llm.c models, token data, machine files, checkpoint directories and
 * STRATA_TOPOLOGY. An alarm turns a hang into a failure. */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../harness.h"
#include "io_test.h"

h_counts h_total;

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL: a reader blocked on a FIFO for 60 s\n";
    if (write(1, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(1);
}

static void refused(st_status s, const char *what, const char *kind)
{
    CHECK(s == ST_ERR_IO && h_msg_has(kind), "%s: %s (%s)", what, st_status_string(s), st_last_error());
}

static void readers(const char *path, const char *kind)
{
    st_safetensors *f = NULL;
    refused(st_safetensors_open(path, &f), "st_safetensors_open", kind);
    st_llmc_model *m = NULL;
    refused(st_llmc_open(path, &m), "st_llmc_open", kind);
    st_dataset *ds = NULL;
    st_dataset_options o = {0};
    refused(st_dataset_open(path, &o, &ds), "st_dataset_open", kind);
    st_plan_machine pm;
    st_plan_machine_get("local", &pm);
    st_status s = st_plan_machine_load(path, &pm);
    CHECK(s == ST_ERR_IO && h_msg_has(kind), "st_plan_machine_load: %s (%s)", st_status_string(s), st_last_error());
    setenv("STRATA_TOPOLOGY", path, 1);
    st_topo *t = NULL;
    s = st_topo_load(&t);
    CHECK(s == ST_ERR_IO && h_msg_has(kind), "STRATA_TOPOLOGY: %s (%s)", st_status_string(s), st_last_error());
    st_topo_destroy(t);
    unsetenv("STRATA_TOPOLOGY");
}

int main(void)
{
    char dir[4096], fifo[4200], latest[4400], ck[4200];
    signal(SIGALRM, on_alarm);
    alarm(60);
    if (!CHECK(io_scratch_dir(dir, sizeof dir, "fifo"), "scratch directory")) return h_finish();
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    if (!CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo)) return h_finish();
    readers(fifo, "a FIFO");
    readers(dir, "a directory");
    /* a checkpoint directory whose `latest` and whose step directory's manifest are FIFOs */
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(latest, sizeof latest, "%s/latest", ck);
    mkdir(ck, 0777);
    CHECK(mkfifo(latest, 0600) == 0, "mkfifo %s", latest);
    st_ckpt_found found;
    int have = 1;
    st_status s = st_ckpt_dir_find(ck, &found, &have);
    CHECK(s == ST_OK && !have, "a FIFO for latest reads as none: %s (%s)", st_status_string(s), st_last_error());
    char step[4400], manifest[4600];
    snprintf(step, sizeof step, "%s/step-00000001", ck);
    snprintf(manifest, sizeof manifest, "%s/" ST_CKPT_MANIFEST, step);
    mkdir(step, 0777);
    CHECK(mkfifo(manifest, 0600) == 0, "mkfifo %s", manifest);
    s = st_ckpt_dir_find(ck, &found, &have);
    CHECK(s == ST_ERR_FORMAT && h_msg_has("a FIFO"), "a FIFO manifest: %s (%s)", st_status_string(s), st_last_error());
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("note: %s left behind\n", dir);
    alarm(0);
    st_shutdown();
    return h_finish();
}
