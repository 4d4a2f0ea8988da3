/* Status codes, the per-thread error message and the API version.
 *
 * Error contract (stated once, holds for every function in include/strata/):
 *  - every fallible call returns st_status; ST_OK is 0, everything else is an error;
 *  - on error the calling thread's message (st_last_error()) holds the cause, with the
 *    file:line of the library code that detected it and, for vendor errors, the vendor's own
 *    string (dlerror(), cudaGetErrorString(), CL_... names);
 *  - on error, outputs are left untouched unless the function says otherwise;
 *  - the library never exits, aborts or prints.
 */
#ifndef STRATA_STATUS_H
#define STRATA_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the public API: libstrata is built with hidden visibility and exports only these. */
#if defined(__GNUC__)
#define ST_API __attribute__((visibility("default")))
#else
#define ST_API
#endif

/* Marks a name kept for existing callers: the compiler warns and names the replacement. Every
 * destructor is st_<object>_destroy; the earlier _free and _close names still work (docs/ARCHITECTURE.md, "Public API"). */
#if defined(__GNUC__)
#define ST_DEPRECATED(replacement) __attribute__((deprecated("use " replacement)))
#else
#define ST_DEPRECATED(replacement)
#endif

/* API version of this header set. Separate from the plugin ABI version (backend_abi.h). */
#define ST_VERSION_MAJOR 0
#define ST_VERSION_MINOR 1
#define ST_VERSION_PATCH 0
#define ST_VERSION ((ST_VERSION_MAJOR << 16) | (ST_VERSION_MINOR << 8) | ST_VERSION_PATCH)

typedef enum st_status {
    ST_OK = 0,
    ST_ERR_INVALID_ARG,    /* NULL handle, bad enum, bad parameter value */
    ST_ERR_SHAPE,          /* shapes that do not fit the operation */
    ST_ERR_DTYPE,          /* dtype not supported by the op, or mismatched */
    ST_ERR_DEVICE,         /* tensors on different devices where one is required */
    ST_ERR_OUT_OF_MEMORY,  /* host or device allocation failed */
    ST_ERR_UNKNOWN_BACKEND,/* backend name not known */
    ST_ERR_BACKEND_UNAVAILABLE, /* known backend whose plugin could not be loaded */
    ST_ERR_NO_DEVICE,      /* backend loaded but has no (such) device */
    ST_ERR_ABI,            /* plugin built against another ABI version */
    ST_ERR_BACKEND,        /* error reported by a vendor runtime/library */
    ST_ERR_IO,             /* file could not be read or written */
    ST_ERR_FORMAT,         /* file present but corrupt, truncated or inconsistent */
    ST_ERR_UNSUPPORTED,    /* valid request this build or backend cannot do */
    ST_ERR_INTERNAL,       /* a bug in Strata: please report it */
    ST_STATUS_COUNT
} st_status;

/* Message describing the last error raised on the calling thread ("" if none).
 * The string is owned by the library and valid until the next failing call on this thread. */
ST_API const char *st_last_error(void);

/* Clears the calling thread's error message. */
ST_API void st_clear_error(void);

/* Short constant name of a status ("ST_ERR_SHAPE"); "ST_UNKNOWN_STATUS" for values out of range. */
ST_API const char *st_status_string(st_status s);

/* Version of the library actually loaded, as ST_VERSION encodes it; compare with ST_VERSION to
 * detect a header/library mismatch. */
ST_API unsigned st_version(void);

/* Version string, e.g. "0.1.0". Static storage. */
ST_API const char *st_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
