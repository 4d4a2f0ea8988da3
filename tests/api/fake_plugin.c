/* A fake backend plugin for the loader tests: built as libstrata-<name>.so in a directory of its
 * own. FAKE_WRONG_ABI: exports the entry point with a wrong ABI version. FAKE_NO_ENTRY: exports
 * no entry point at all. */
#include "strata/backend_abi.h"

#ifdef FAKE_WRONG_ABI
static const st_backend_iface fake_iface = {
    .abi_version = ST_BACKEND_ABI_VERSION ^ 0x00ff0000u,
    .struct_size = 16,
    .name = FAKE_NAME,
};

__attribute__((visibility("default"))) const st_backend_iface *strata_backend_entry(void)
{
    return &fake_iface;
}
#else
__attribute__((visibility("default"))) int strata_fake_plugin_without_entry(void) { return 1; }
#endif
