/* Fuzz target: checkpoint directories (st_ckpt_dir_find): the input is the manifest of
 * step-00000005 (when it starts like one) or else the text of `latest`, beside a 16-byte file a.bin. */
#include <sys/stat.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char good[] = "strata-checkpoint 1\nstep 5\nid 0123456789abcdef0123456789abcdef\nfile a.bin 16\nend\n";
    char dir[600], step[700];
    snprintf(dir, sizeof dir, "%s", fuzz_path("ck"));
    snprintf(step, sizeof step, "%s/step-00000005", dir);
    mkdir(dir, 0700);
    mkdir(step, 0700);
    int latest = size < 17 || memcmp(data, "strata-checkpoint", 17) != 0;
    fuzz_file("ck/step-00000005/a.bin", (const uint8_t *)"0123456789abcdef", 16);
    fuzz_file("ck/step-00000005/" ST_CKPT_MANIFEST, latest ? (const uint8_t *)good : data,
              latest ? sizeof good - 1 : size);
    fuzz_file("ck/latest", latest ? data : (const uint8_t *)"step-00000005\n", latest ? size : 14);
    st_ckpt_found f;
    int found = 0;
    if (st_ckpt_dir_find(dir, &f, &found) == ST_OK && found && (f.step != 5 || !strstr(f.path, "step-00000005")))
        abort(); /* the only step directory there is */
    return 0;
}
