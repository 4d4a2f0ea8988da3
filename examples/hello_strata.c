/* Smallest Strata program: out = a + b on the default device, read back and checked.
 * Built by examples/CMakeLists.txt (find_package) and by pkg-config in tests/install. */
#include <stdio.h>
#include <strata/strata.h>

#define CHECK(call)                                                                   \
    do {                                                                              \
        if ((call) != ST_OK) {                                                        \
            fprintf(stderr, "hello_strata: %s failed: %s\n", #call, st_last_error()); \
            goto fail;                                                                \
        }                                                                             \
    } while (0)

int main(void)
{
    const int64_t shape[2] = {2, 3}; /* (rows, cols) */
    const float b_host[6] = {0.f, 1.f, 2.f, 3.f, 4.f, 5.f};
    float out_host[6] = {0};
    st_device *dev = NULL;
    st_tensor *a = NULL, *b = NULL, *out = NULL;
    int rc = 1;

    /* A header/library mismatch would make every struct layout suspect: refuse to go on. */
    if (st_version() != ST_VERSION) {
        fprintf(stderr, "hello_strata: header version 0x%x, library 0x%x\n", ST_VERSION,
                st_version());
        return 1;
    }
    CHECK(st_device_default(&dev));
    CHECK(st_tensor_create(dev, ST_F32, 2, shape, &a));
    CHECK(st_tensor_create(dev, ST_F32, 2, shape, &b));
    CHECK(st_tensor_create(dev, ST_F32, 2, shape, &out));
    CHECK(st_fill(a, 1.5));
    CHECK(st_tensor_write(b, b_host, sizeof b_host));
    CHECK(st_add(out, a, b));
    CHECK(st_tensor_read(out, out_host, sizeof out_host));

    printf("strata %s on %s: 1.5 + [0..5] =", st_version_string(), st_device_label(dev));
    for (int i = 0; i < 6; i++) printf(" %g", out_host[i]);
    printf("\n");
    rc = 0;
    for (int i = 0; i < 6; i++)
        if (out_host[i] != 1.5f + b_host[i]) { /* exact: small integers plus 1.5 */
            fprintf(stderr, "hello_strata: element %d is %g, expected %g\n", i, out_host[i],
                    1.5f + b_host[i]);
            rc = 1;
        }

fail:
    st_tensor_destroy(out);
    st_tensor_destroy(b);
    st_tensor_destroy(a);
    st_shutdown();
    return rc;
}
