/* Thread-local error messages, status names and the library version. */
#include <stdio.h>
#include <string.h>
#include "internal.h"

/* Large enough for a kernel compiler's build log. */
static _Thread_local char last_error[8192];

st_status st_set_error(st_status s, const char *file, int line, const char *fmt, ...)
{
    const char *base = strrchr(file, '/');
    char msg[sizeof last_error - 512]; /* room for the status name and file:line */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(last_error, sizeof last_error, "%s: %s (%s:%d)", st_status_string(s), msg,
             base ? base + 1 : file, line);
    return s;
}

const st_host_api st_host_services = {ST_BACKEND_ABI_VERSION, st_set_error};

const char *st_last_error(void) { return last_error; }

void st_clear_error(void) { last_error[0] = '\0'; }

const char *st_status_string(st_status s)
{
    static const char *const names[ST_STATUS_COUNT] = {
        "ST_OK", "ST_ERR_INVALID_ARG", "ST_ERR_SHAPE", "ST_ERR_DTYPE", "ST_ERR_DEVICE",
        "ST_ERR_OUT_OF_MEMORY", "ST_ERR_UNKNOWN_BACKEND", "ST_ERR_BACKEND_UNAVAILABLE",
        "ST_ERR_NO_DEVICE", "ST_ERR_ABI", "ST_ERR_BACKEND", "ST_ERR_IO", "ST_ERR_FORMAT",
        "ST_ERR_UNSUPPORTED", "ST_ERR_INTERNAL"};
    if ((int)s < 0 || s >= ST_STATUS_COUNT) return "ST_UNKNOWN_STATUS";
    return names[s];
}

unsigned st_version(void) { return ST_VERSION; }

#define ST_STR2_(x) #x
#define ST_STR_(x) ST_STR2_(x)
const char *st_version_string(void)
{
    return ST_STR_(ST_VERSION_MAJOR) "." ST_STR_(ST_VERSION_MINOR) "." ST_STR_(ST_VERSION_PATCH);
}
