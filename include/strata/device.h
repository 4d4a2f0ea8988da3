/* Backends and devices: enumeration and selection.
 *
 * A backend is an implementation of the op table (cpu, opencl, cuda, hip). The CPU backend is
 * built into libstrata; the others are plugins found at run time (see STRATA_PLUGIN_PATH below).
 * A device is one compute device of a backend. Devices are owned by the library: handles stay
 * valid until st_shutdown() and must not be freed by the caller.
 *
 * Environment (read by st_device_default()):
 *   STRATA_BACKEND      "auto" (default: cuda,hip,opencl,cpu), one name, or a preference list
 *                       "hip,cuda,cpu": the first backend with a usable device is taken. A single
 *                       name never falls back to another backend.
 *   STRATA_DEVICE       index within the chosen backend, or "backend:index" ("hip:1"). Default: the
 *                       local rank (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID)
 *                       modulo the backend's device count, else 0.
 *   STRATA_PLUGIN_PATH  ':'-separated directories searched first for libstrata-<name>.so; then
 *                       the directory holding libstrata, then the install's library directory.
 */
#ifndef STRATA_DEVICE_H
#define STRATA_DEVICE_H

#include <stddef.h>
#include <stdint.h>
#include "strata/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_device st_device;

/* What st_backend_info() reports. Strings are owned by the library, valid until st_shutdown(). */
typedef struct st_backend_info {
    const char *name;        /* "cpu", "opencl", "cuda", "hip" */
    int loaded;              /* 1 when the backend is usable (plugin loaded and initialised) */
    int device_count;        /* 0 when not loaded or no device */
    const char *plugin_path; /* file that was loaded, "(built in)" for cpu, "" when none */
    const char *reason;      /* why not loaded / why no device: every place looked at and the
                                loader's message; "" when loaded with devices */
    const char *runtime;     /* runtime/library versions the backend reports ("" if unknown) */
} st_backend_info;

/* Properties of one device. Strings are owned by the library. */
typedef struct st_device_props {
    const char *backend;     /* backend name */
    int index;               /* index within the backend */
    const char *name;        /* device name as the vendor reports it */
    const char *vendor;
    const char *type;        /* "cpu", "gpu" or "accelerator": what the silicon is */
    const char *driver;      /* driver / runtime version string */
    uint64_t memory_bytes;   /* global memory (host RAM for cpu) */
    int compute_units;       /* cores / CUs / SMs */
    double peak_gflops_f32;  /* theoretical f32 peak if known, else 0 */
    double peak_gbps;        /* theoretical memory bandwidth if known, else 0 */
    const char *extra;       /* backend-specific details (BLAS core, extensions, ...) */
    const char *pci_bus_id;  /* "0000:3b:00.0" as the vendor runtime reports it (CUDA, HIP, OpenCL
                                with cl_khr_pci_bus_info, NVIDIA's or AMD's topology query); NULL
                                when the device has none or the backend cannot tell (cpu) */
} st_device_props;

/* Number of backends known to this build (built in or plugin, loaded or not). */
ST_API int st_backend_count(void);

/* Information on backend i (0 <= i < st_backend_count()). Tries to load it the first time.
 * Errors: ST_ERR_INVALID_ARG for a bad index or NULL out. Not being loadable is not an error:
 * it is reported in out->loaded and out->reason. */
ST_API st_status st_backend_info_get(int i, st_backend_info *out);

/* Same, by name. ST_ERR_UNKNOWN_BACKEND (message lists the known names) for an unknown name. */
ST_API st_status st_backend_info_by_name(const char *name, st_backend_info *out);

/* Device `index` of backend `name`. Loads the backend if needed.
 * Errors: ST_ERR_UNKNOWN_BACKEND, ST_ERR_BACKEND_UNAVAILABLE (with the reason),
 * ST_ERR_NO_DEVICE (index out of range or the backend has no device, with the count). */
ST_API st_status st_device_get(const char *name, int index, st_device **out);

/* Resolves a backend spec ("auto", "cpu", "hip,cuda,cpu"; NULL or "" = "auto") and a device spec
 * ("", "2", "hip:1"; NULL or "" = default index) as STRATA_BACKEND/STRATA_DEVICE would.
 * With a list, backends are tried in order and the first one with a usable device wins; the
 * error, when none is usable, gives every backend's reason. */
ST_API st_status st_device_select(const char *backend_spec, const char *device_spec, st_device **out);

/* st_device_select(getenv("STRATA_BACKEND"), getenv("STRATA_DEVICE"), out). */
ST_API st_status st_device_default(st_device **out);

/* Properties of a device. Errors: ST_ERR_INVALID_ARG on NULL. */
ST_API st_status st_device_props_get(const st_device *dev, st_device_props *out);

/* "cpu:0"-style name of the device. Never NULL ("(null)" for a NULL device). */
ST_API const char *st_device_label(const st_device *dev);

/* Name of the device's backend ("cpu", "opencl", ...). */
ST_API const char *st_device_backend(const st_device *dev);

/* Waits until every operation queued on the device has finished. */
ST_API st_status st_device_sync(st_device *dev);

/* Device memory held by tensors, as the allocator sees it: bytes of tensor storage currently
 * allocated on the device, the most ever allocated at once (the high-water mark, since the device
 * was started or since st_device_memory_reset_peak) and the number of live allocations. Views
 * allocate nothing; a backend's own workspaces (BLAS handles, kernel caches, staging) are not
 * tensor storage and are not counted. Thread-safe. Errors: ST_ERR_INVALID_ARG on NULL. */
typedef struct st_device_memory {
    uint64_t current, peak, allocations;
} st_device_memory;
ST_API st_status st_device_memory_get(const st_device *dev, st_device_memory *out);

/* Sets the device's high-water mark to what is allocated now, so that a later peak measures one
 * phase of a program. NULL is a no-op. */
ST_API void st_device_memory_reset_peak(st_device *dev);

/* Shuts every backend down and frees every device; the next call that needs a backend searches
 * and starts it again (STRATA_PLUGIN_PATH is read anew). Plugin code stays mapped (vendor
 * runtimes do not support being unloaded). All st_device and st_tensor handles become invalid;
 * tensors should be freed before. Safe to call more than once. */
ST_API void st_shutdown(void);

#ifdef __cplusplus
}
#endif
#endif
