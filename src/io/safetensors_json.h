/* The strict JSON parser for safetensors headers (the subset the format uses: one object of
 * tensor entries and an optional "__metadata__" object of strings). Internal to libstrata. */
#ifndef STRATA_SAFETENSORS_JSON_H
#define STRATA_SAFETENSORS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "strata/checkpoint.h"

/* One tensor entry as written in the header; nothing beyond syntax and field types checked. */
typedef struct st_st_entry {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_CKPT_MAX_DIMS];
    int64_t begin, end;   /* data_offsets */
} st_st_entry;

typedef struct st_st_header {
    st_st_entry *t;
    int nt, cap_t;
    char **meta_key, **meta_val;
    int nm, cap_m;
} st_st_header;

/* Parses `len` bytes of JSON (trailing spaces allowed) into *h, which must start zeroed.
 * ST_ERR_FORMAT names `path`, the tensor and the field at fault; ST_ERR_OUT_OF_MEMORY.
 * On error *h may hold a partial result: free it with st_st_header_free either way. */
st_status st_st_parse(const char *json, size_t len, const char *path, st_st_header *h);

void st_st_header_free(st_st_header *h);

/* "F32", "BF16", "I32", "I8" for the supported dtypes; NULL otherwise. */
const char *st_st_dtype_name(st_dtype dt);

#endif
