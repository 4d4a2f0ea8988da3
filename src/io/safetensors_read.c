/* Reading safetensors files (checkpoint.h): the header is read and validated in full at open;
 * tensor data is read on request with pread, so a file changing under us gives ST_ERR_IO rather
 * than the SIGBUS a mapping would. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "io_file.h"
#include "safetensors_json.h"

/* The header-size cap of the reference implementation: larger is a corrupt length field. */
#define ST_MAX_HEADER (100 * 1000 * 1000)

typedef struct st_meta_ref {
    const char *key, *value;
} st_meta_ref;

struct st_safetensors {
    int fd;
    char *path;
    int64_t data_start;
    st_st_header h;     /* tensors sorted by data offset */
    const st_st_entry **by_name; /* into h.t, sorted by name */
    st_meta_ref *meta_by_key; /* h.meta_key/meta_val, sorted by key */
};

static int cmp_offset(const void *a, const void *b)
{
    const st_st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const st_st_entry *const *)a)->name, (*(const st_st_entry *const *)b)->name);
}

/* One entry's size against its offsets. */
static st_status check_entry(const char *path, const st_st_entry *e, int64_t data_bytes)
{
    int64_t numel = 1, bytes;
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] < 0)
            return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.200s': shape[%d] = %lld is negative",
                          path, e->name, d, (long long)e->shape[d]);
        if (!st_io_mul(numel, e->shape[d], &numel))
            return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.200s': shape overflows", path, e->name);
    }
    if (!st_io_mul(numel, (int64_t)st_dtype_size(e->dtype), &bytes))
        return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.200s': shape overflows", path, e->name);
    if (e->begin < 0 || e->end < e->begin || e->end > data_bytes)
        return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.200s': data_offsets [%lld, %lld] outside "
                      "the data area of %lld bytes", path, e->name, (long long)e->begin,
                      (long long)e->end, (long long)data_bytes);
    if (e->end - e->begin != bytes)
        return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.200s': shape and dtype give %lld bytes but "
                      "data_offsets span %lld", path, e->name, (long long)bytes,
                      (long long)(e->end - e->begin));
    return ST_OK;
}

/* Sizes, then the tensors tiling the data area exactly, then unique names. */
static st_status check_layout(st_safetensors *f, int64_t data_bytes)
{
    st_st_header *h = &f->h;
    for (int i = 0; i < h->nt; i++) ST_TRY(check_entry(f->path, &h->t[i], data_bytes));
    if (h->nt > 1) qsort(h->t, (size_t)h->nt, sizeof *h->t, cmp_offset);
    int64_t at = 0;
    for (int i = 0; i < h->nt; i++) {
        if (h->t[i].begin != at)
            return ST_ERR(ST_ERR_FORMAT, "'%s': tensor '%.200s' starts at data offset %lld where "
                          "%lld was expected (%s)", f->path, h->t[i].name,
                          (long long)h->t[i].begin, (long long)at,
                          h->t[i].begin < at ? "overlaps the tensor before" : "gap");
        at = h->t[i].end;
    }
    if (at != data_bytes)
        return ST_ERR(ST_ERR_FORMAT, "'%s': tensors cover %lld bytes of a %lld-byte data area",
                      f->path, (long long)at, (long long)data_bytes);
    f->by_name = malloc((h->nt > 0 ? (size_t)h->nt : 1) * sizeof *f->by_name);
    if (!f->by_name) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "name index of %d tensors", h->nt);
    for (int i = 0; i < h->nt; i++) f->by_name[i] = &h->t[i];
    if (h->nt > 1) qsort(f->by_name, (size_t)h->nt, sizeof *f->by_name, cmp_name);
    for (int i = 1; i < h->nt; i++)
        if (strcmp(f->by_name[i]->name, f->by_name[i - 1]->name) == 0)
            return ST_ERR(ST_ERR_FORMAT, "'%s': tensor name '%.200s' appears twice", f->path,
                          f->by_name[i]->name);
    return ST_OK;
}

static int cmp_meta(const void *a, const void *b)
{
    return strcmp(((const st_meta_ref *)a)->key, ((const st_meta_ref *)b)->key);
}

/* The metadata keys sorted (for lookups) and checked for duplicates. */
static st_status index_meta(st_safetensors *f)
{
    st_st_header *h = &f->h;
    f->meta_by_key = malloc((h->nm > 0 ? (size_t)h->nm : 1) * sizeof *f->meta_by_key);
    if (!f->meta_by_key) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "metadata index of %d keys", h->nm);
    for (int i = 0; i < h->nm; i++) f->meta_by_key[i] = (st_meta_ref){h->meta_key[i], h->meta_val[i]};
    if (h->nm > 1) qsort(f->meta_by_key, (size_t)h->nm, sizeof *f->meta_by_key, cmp_meta);
    for (int i = 1; i < h->nm; i++)
        if (strcmp(f->meta_by_key[i].key, f->meta_by_key[i - 1].key) == 0)
            return ST_ERR(ST_ERR_FORMAT, "'%s': __metadata__: duplicate key \"%.200s\"", f->path,
                          f->meta_by_key[i].key);
    return ST_OK;
}

static st_status read_header(st_safetensors *f, int64_t size)
{
    uint8_t lenb[8];
    if (size < 8)
        return ST_ERR(ST_ERR_FORMAT, "'%s': %lld bytes, too short for the 8-byte header length",
                      f->path, (long long)size);
    ST_TRY(st_io_pread(f->fd, f->path, lenb, 8, 0));
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | lenb[i];
    if (hlen > (uint64_t)(size - 8) || hlen > ST_MAX_HEADER)
        return ST_ERR(ST_ERR_FORMAT, "'%s': header length %llu exceeds the %lld bytes after it%s",
                      f->path, (unsigned long long)hlen, (long long)(size - 8),
                      hlen > ST_MAX_HEADER ? " or the 100 MB limit" : "");
    char *json = malloc(hlen ? hlen : 1);
    if (!json) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "safetensors header of %llu bytes",
                             (unsigned long long)hlen);
    st_status s = st_io_pread(f->fd, f->path, json, hlen, 8);
    if (s == ST_OK) s = st_st_parse(json, hlen, f->path, &f->h);
    free(json);
    f->data_start = 8 + (int64_t)hlen;
    if (s == ST_OK) s = check_layout(f, size - f->data_start);
    if (s == ST_OK) s = index_meta(f);
    return s;
}

st_status st_safetensors_open(const char *path, st_safetensors **out)
{
    if (!path || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_safetensors_open: NULL path or out");
    st_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return ST_ERR(ST_ERR_OUT_OF_MEMORY, "safetensors handle");
    }
    int64_t size;
    f->fd = -1;
    st_status s = st_io_open_read(path, &f->fd, &size);
    if (s == ST_OK) s = read_header(f, size);
    if (s != ST_OK) {
        st_safetensors_destroy(f);
        return s;
    }
    *out = f;
    return ST_OK;
}

void st_safetensors_destroy(st_safetensors *f)
{
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    st_st_header_free(&f->h);
    free(f->by_name);
    free(f->meta_by_key);
    free(f->path);
    free(f);
}

int st_safetensors_count(const st_safetensors *f) { return f ? f->h.nt : 0; }

static void fill_info(const st_st_entry *e, st_ckpt_info *out)
{
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->dtype = e->dtype;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof e->shape);
    out->bytes = (size_t)(e->end - e->begin);
}

st_status st_safetensors_info(const st_safetensors *f, int i, st_ckpt_info *out)
{
    if (!f || !out || i < 0 || i >= f->h.nt)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_safetensors_info: NULL or index %d out of range", i);
    fill_info(&f->h.t[i], out);
    return ST_OK;
}

static const st_st_entry *lookup(const st_safetensors *f, const char *name)
{
    int lo = 0, hi = f->h.nt;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

st_status st_safetensors_find(const st_safetensors *f, const char *name, st_ckpt_info *out)
{
    if (!f || !name || !out) return ST_ERR(ST_ERR_INVALID_ARG, "st_safetensors_find: NULL argument");
    const st_st_entry *e = lookup(f, name);
    if (!e) return ST_ERR(ST_ERR_INVALID_ARG, "'%s' has no tensor '%.200s'", f->path, name);
    fill_info(e, out);
    return ST_OK;
}

st_status st_safetensors_read(const st_safetensors *f, const char *name, void *dst, size_t bytes)
{
    if (!f || !name || (!dst && bytes))
        return ST_ERR(ST_ERR_INVALID_ARG, "st_safetensors_read: NULL argument");
    const st_st_entry *e = lookup(f, name);
    if (!e) return ST_ERR(ST_ERR_INVALID_ARG, "'%s' has no tensor '%.200s'", f->path, name);
    if ((int64_t)bytes != e->end - e->begin)
        return ST_ERR(ST_ERR_INVALID_ARG, "tensor '%.200s' has %lld bytes, buffer %zu", name,
                      (long long)(e->end - e->begin), bytes);
    return st_io_pread(f->fd, f->path, dst, bytes, f->data_start + e->begin);
}

const char *st_safetensors_meta(const st_safetensors *f, const char *key)
{
    if (!f || !key || !f->meta_by_key) return NULL;
    st_meta_ref want = {key, NULL};
    const st_meta_ref *r = bsearch(&want, f->meta_by_key, (size_t)f->h.nm, sizeof want, cmp_meta);
    return r ? r->value : NULL;
}

int st_safetensors_meta_count(const st_safetensors *f) { return f ? f->h.nm : 0; }

st_status st_safetensors_meta_at(const st_safetensors *f, int i, const char **key,
                                 const char **value)
{
    if (!f || !key || !value || i < 0 || i >= f->h.nm)
        return ST_ERR(ST_ERR_INVALID_ARG, "st_safetensors_meta_at: NULL or index %d out of range", i);
    *key = f->h.meta_key[i];
    *value = f->h.meta_val[i];
    return ST_OK;
}
