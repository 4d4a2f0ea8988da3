/* A saved hwloc XML topology, made safe for hwloc 2.x before hwloc sees it: read without blocking
 * (a FIFO is refused), parsed with libxml2 (no network, no entity expansion, no messages
 * printed), validated (every attribute hwloc turns into a bitmap or an index, the sets a normal
 * object must have, the sizes of distance matrices), and converted from hwloc 3.0's format to
 * 2.0's (OS device types, topology-wide infos, elements 2.x does not know). hwloc 2.9 crashed on
 * malformed files (a misspelled complete_cpuset was a SIGSEGV); this pass turns the crashes known
 * here into ST_ERR_FORMAT with the line at fault, and topo_guard.c catches the rest. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include "internal.h"
#include "io_file.h"
#include "topo_internal.h"

#define XML_MAX_BYTES (64 << 20)  /* a 1000-node topology is a few MB */
#define MAX_BITS (1 << 20)        /* PUs or NUMA nodes: far above any machine */
#define MAX_DEPTH 128
#define MAX_DIST_OBJS 65536

typedef struct xml_check {
    const char *what;  /* the file, for messages */
    int major;         /* format version: 1, 2 or 3 */
    int objects;
    int numa;          /* NUMANode objects */
} xml_check;

static st_status bad(const xml_check *c, const xmlNode *n, const char *fmt, const char *a, const char *b)
{
    char why[512];
    snprintf(why, sizeof why, fmt, a ? a : "", b ? b : "");
    return ST_ERR(ST_ERR_FORMAT, "STRATA_TOPOLOGY '%s': line %d: %s", c->what, n ? (int)xmlGetLineNo(n) : 0, why);
}

static int is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* An attribute's value (owned by the tree), NULL when absent. */
static const char *attr(const xmlNode *n, const char *name)
{
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (strcmp((const char *)a->name, name) == 0)
            return a->children && a->children->type == XML_TEXT_NODE ? (const char *)a->children->content : "";
    return NULL;
}

/* hwloc's bitmap syntax, strictly: "0xf...f" alone, or an optional "0xf...f," then comma-separated
 * 32-bit groups of 1-8 hex digits (each optionally "0x"; hwloc writes a zero group as an empty one,
 * "0x0000c000,,0x0"), the first and last not empty; at most MAX_BITS bits. hwloc_bitmap_sscanf
 * asserts on a leading comma and misplaces groups of more than 8 digits. */
static int bitmap_ok(const char *s)
{
    if (strcmp(s, "0xf...f") == 0) return 1;
    if (strncmp(s, "0xf...f,", 8) == 0) s += 8;
    int groups = 0;
    for (;;) {
        if (s[0] == '0' && s[1] == 'x') s += 2;
        int digits = 0;
        while ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')) s++, digits++;
        if (digits > 8 || ++groups > MAX_BITS / 32) return 0;
        if (digits == 0 && (groups == 1 || *s != ',')) return 0; /* empty: only between two commas */
        if (*s == '\0') return 1;
        if (*s++ != ',') return 0;
    }
}

/* A decimal count in [0, max]. */
static int count_ok(const char *s, unsigned long long max)
{
    if (!s || *s < '0' || *s > '9' || strlen(s) > 20) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    return !errno && !*end && v <= max;
}

static const char *const SETS[] = {"cpuset", "complete_cpuset", "allowed_cpuset", "nodeset", "complete_nodeset",
                                   "allowed_nodeset", "online_cpuset"};
#define N_SETS ((int)(sizeof SETS / sizeof SETS[0]))

static int is_io(hwloc_obj_type_t t)
{
    return t == HWLOC_OBJ_BRIDGE || t == HWLOC_OBJ_PCI_DEVICE || t == HWLOC_OBJ_OS_DEVICE;
}

/* The PCI attributes hwloc scans with sscanf and later compares: well-formed, bus ranges ordered. */
static st_status check_pci(const xml_check *c, const xmlNode *n)
{
    const char *id = attr(n, "pci_busid"), *br = attr(n, "bridge_pci");
    unsigned d, b, dv, f, s1, s2;
    char extra;
    if (id && (sscanf(id, "%x:%x:%x.%x%c", &d, &b, &dv, &f, &extra) != 4 || d > 0xffff || b > 0xff || dv > 0x1f || f > 7))
        return bad(c, n, "pci_busid '%.40s' is not DDDD:BB:DD.F", id, NULL);
    if (br && (sscanf(br, "%x:[%x-%x]%c", &d, &s1, &s2, &extra) != 3 || d > 0xffff || s1 > 0xff || s2 > 0xff || s1 > s2))
        return bad(c, n, "bridge_pci '%.40s' is not DDDD:[SS-SS] with an ordered bus range", br, NULL);
    return ST_OK;
}

/* One <object>: its type, sets, indices and PCI attributes; `parent_io`: it sits under an I/O object. */
static st_status check_object(xml_check *c, const xmlNode *n, int parent_io, hwloc_obj_type_t *type)
{
    const char *t = attr(n, "type");
    if (!t || hwloc_type_sscanf(t, type, NULL, 0) != 0)
        return bad(c, n, "object type '%.40s' unknown to hwloc", t ? t : "(missing)", NULL);
    for (int i = 0; i < N_SETS; i++) {
        const char *v = attr(n, SETS[i]);
        if (v && !bitmap_ok(v)) return bad(c, n, "%s '%.60s' is not an hwloc bitmap", SETS[i], v);
    }
    if (++c->objects > 1000000) return bad(c, n, "more than a million objects", NULL, NULL);
    c->numa += *type == HWLOC_OBJ_NUMANODE;
    const char *os = attr(n, "os_index");
    if (os && !count_ok(os, MAX_BITS - 1)) return bad(c, n, "os_index '%.40s' is not an index below 2^20", os, NULL);
    static const char *const counts[] = {"gp_index", "depth", "cache_size", "cache_linesize", "local_memory", "osdev_type",
                                         "kind", "subkind"};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        const char *v = attr(n, counts[i]);
        if (v && !count_ok(v, i == 1 ? 16 : ULLONG_MAX)) return bad(c, n, "%s '%.40s' is not a count", counts[i], v);
    }
    if (is_io(*type) || *type == HWLOC_OBJ_MISC) {
        for (int i = 0; i < N_SETS - 1; i++)
            if (c->major >= 2 && attr(n, SETS[i]))
                return bad(c, n, "an I/O or Misc object with a %s (only CPU-side objects have sets)", SETS[i], NULL);
        return check_pci(c, n);
    }
    if (parent_io) return bad(c, n, "a %s object inside an I/O object", t, NULL);
    /* hwloc 2.x reads a missing set as a NULL bitmap and crashes on it (hwloc_bitmap_compare_first) */
    for (int i = 0; c->major >= 2 && i < 5; i++)
        if (i != 2 && !attr(n, SETS[i])) return bad(c, n, "a %s object without %s", t, SETS[i]);
    return ST_OK;
}

/* <indexes>/<u64values> children of a distances2 matrix: lengths that are their text's, and as
 * many values as nbobjs (indexes) or nbobjs^2 (values). */
static st_status check_distances(const xml_check *c, const xmlNode *n)
{
    const char *nb = attr(n, "nbobjs");
    if (!count_ok(nb, MAX_DIST_OBJS) || strtoull(nb, NULL, 10) == 0)
        return bad(c, n, "distances with nbobjs '%.40s' (1 to 65536)", nb ? nb : "(missing)", NULL);
    unsigned long long N = strtoull(nb, NULL, 10), idx = 0, vals = 0;
    for (const xmlNode *k = n->children; k; k = k->next) {
        if (k->type != XML_ELEMENT_NODE) continue;
        if (!is(k, "indexes") && !is(k, "u64values") && !is(k, "info"))
            return bad(c, k, "unknown element <%.40s> in a distance matrix", (const char *)k->name, NULL);
        if (is(k, "info")) continue;
        const char *len = attr(k, "length");
        const char *text = k->children && k->children->type == XML_TEXT_NODE ? (const char *)k->children->content : "";
        if (!count_ok(len, 1u << 30) || strtoull(len, NULL, 10) != strlen(text))
            return bad(c, k, "length '%.40s' differs from the element's text", len ? len : "(missing)", NULL);
        unsigned long long words = 0; /* values are numbers; indexes numbers or "Type:number" (hetero) */
        for (const char *p = text; *p;) {
            while (*p == ' ' || *p == '\n' || *p == '\t') p++;
            if (!*p) break;
            if (is(k, "u64values") && (*p < '0' || *p > '9'))
                return bad(c, k, "a value that is not a number in a distance matrix", NULL, NULL);
            while (*p && *p != ' ' && *p != '\n' && *p != '\t') p++;
            words++;
        }
        *(is(k, "indexes") ? &idx : &vals) += words;
    }
    if (idx != N) return bad(c, n, "a distance matrix whose indexes do not match nbobjs", NULL, NULL);
    if (vals != N * N) return bad(c, n, "a distance matrix without nbobjs^2 values", NULL, NULL);
    return ST_OK;
}

static st_status check_tree(xml_check *c, const xmlNode *n, int depth, int parent_io)
{
    if (depth > MAX_DEPTH) return bad(c, n, "objects nested deeper than 128", NULL, NULL);
    hwloc_obj_type_t type;
    ST_TRY(check_object(c, n, parent_io, &type));
    int io = parent_io || is_io(type);
    for (const xmlNode *k = n->children; k; k = k->next) {
        if (is(k, "object")) ST_TRY(check_tree(c, k, depth + 1, io));
        else if (is(k, "info") && (!attr(k, "name") || !attr(k, "value")))
            return bad(c, k, "an <info> without name or value", NULL, NULL);
        else if (is(k, "distances") && c->major < 2) continue;
        else if (k->type == XML_ELEMENT_NODE && !is(k, "info") && !is(k, "page_type") && !is(k, "userdata"))
            return bad(c, k, "unknown element <%.40s> in an object", (const char *)k->name, NULL);
    }
    return ST_OK;
}

/* The <topology> element: its version, one root object first, then the elements hwloc knows. */
static st_status check_document(xml_check *c, xmlNode *top)
{
    if (!top || !is(top, "topology")) return bad(c, top, "the document is not an hwloc <topology>", NULL, NULL);
    const char *v = attr(top, "version");
    c->major = !v ? 1 : (v[0] >= '1' && v[0] <= '9' && v[1] == '.') ? v[0] - '0' : 0;
    if (c->major < 1 || c->major > 3)
        return bad(c, top, "hwloc XML format '%.20s' (this reader takes 1.x, 2.x and 3.x)", v, NULL);
    int roots = 0;
    for (const xmlNode *k = top->children; k; k = k->next) {
        if (k->type != XML_ELEMENT_NODE) continue;
        if (is(k, "object")) {
            if (roots++) return bad(c, k, "a second root object", NULL, NULL);
            ST_TRY(check_tree(c, k, 0, 0));
        } else if (!roots) {
            return bad(c, k, "<%.40s> before the root object", (const char *)k->name, NULL);
        } else if (is(k, "distances2") || is(k, "distances2hetero")) {
            ST_TRY(check_distances(c, k));
        } else if (!is(k, "support") && !is(k, "memattr") && !is(k, "cpukind") && !is(k, "info") &&
                   !is(k, "pci_locality") && !is(k, "memtier")) {
            return bad(c, k, "unknown element <%.40s> after the root object", (const char *)k->name, NULL);
        }
    }
    if (!roots) return bad(c, top, "no root object", NULL, NULL);
    /* hwloc 2.x aborts the import then, printing, and leaks what it had built */
    if (c->major >= 2 && !c->numa) return bad(c, top, "no NUMANode object (hwloc 2.x needs one)", NULL, NULL);
    return ST_OK;
}

/* ---- hwloc 3.0 -> 2.0 ---- */

/* hwloc 3.0's OS device type bitmask as 2.x's enum, by hwloc's own rule for exporting 3.0 as 2.0
 * (topology-xml.c, v2export): storage/memory 0, OpenFabrics 3, network 2, DMA 4, co-processor 5
 * except NVML and RSMI devices, which 2.x typed GPU (1), and GPU 1. The backend comes from the
 * subtype or, in files like hwloc's DGX-2 test, from a "Backend" info; either way the name decides
 * between GPU and co-processor, as in hwloc. */
static const char *v2_osdev_type(unsigned long long t, const char *name)
{
    int nvml_rsmi = name && (strncmp(name, "nvml", 4) == 0 || strncmp(name, "rsmi", 4) == 0);
    if (t & 3) return "0";
    if (t & 32) return "3";
    if (t & 16) return "2";
    if (t & 64) return "4";
    if (t & 8) return nvml_rsmi ? "1" : "5";
    if (t & 4) return "1";
    return "0";
}

/* The backend to record as a "Backend" info: the subtype, when the device has no such info yet. */
static const char *backend_of(const xmlNode *n)
{
    for (const xmlNode *k = n->children; k; k = k->next)
        if (is(k, "info") && attr(k, "name") && strcmp(attr(k, "name"), "Backend") == 0) return NULL; /* has one */
    const char *st = attr(n, "subtype");
    static const char *const known[] = {"CUDA", "NVML", "OpenCL", "RSMI", "LevelZero", "Display"};
    for (size_t i = 0; st && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(st, known[i]) == 0) return st;
    return NULL;
}

static void convert_objects(xmlNode *n)
{
    for (; n; n = n->next) {
        if (!is(n, "object")) continue;
        const char *t = attr(n, "type"), *ot = attr(n, "osdev_type");
        if (t && strcmp(t, "OSDev") == 0 && ot) {
            xmlSetProp(n, BAD_CAST "osdev_type", BAD_CAST v2_osdev_type(strtoull(ot, NULL, 10), attr(n, "name")));
            const char *b = backend_of(n); /* 2.x kept the backend as an info of the device itself */
            if (b) {
                xmlNode *info = xmlNewNode(NULL, BAD_CAST "info");
                xmlSetProp(info, BAD_CAST "name", BAD_CAST "Backend");
                xmlSetProp(info, BAD_CAST "value", BAD_CAST b);
                if (n->children) xmlAddPrevSibling(n->children, info);
                else xmlAddChild(n, info);
            }
        }
        convert_objects(n->children);
    }
}

/* 3.0 writes topology-wide infos after the root object, and adds elements 2.x stops at
 * (pci_locality, memtier) and <info> inside distance matrices and memory attributes. */
static void convert_document(xmlNode *top)
{
    xmlSetProp(top, BAD_CAST "version", BAD_CAST "2.0");
    xmlNode *root = NULL, *first_child = NULL;
    for (xmlNode *k = top->children; k && !root; k = k->next)
        if (is(k, "object")) root = k;
    for (xmlNode *k = root ? root->children : NULL; k && !first_child; k = k->next)
        if (k->type == XML_ELEMENT_NODE) first_child = k;
    convert_objects(root);
    for (xmlNode *k = top->children, *next; k; k = next) {
        next = k->next;
        if (k == root || k->type != XML_ELEMENT_NODE) continue;
        if (is(k, "info")) {
            xmlUnlinkNode(k);
            if (first_child) xmlAddPrevSibling(first_child, k);
            else xmlAddChild(root, k);
        } else if (is(k, "pci_locality") || is(k, "memtier")) {
            xmlUnlinkNode(k);
            xmlFreeNode(k);
        } else if (is(k, "distances2") || is(k, "distances2hetero") || is(k, "memattr")) {
            for (xmlNode *c = k->children, *cn; c; c = cn) {
                cn = c->next;
                if (is(c, "info")) {
                    xmlUnlinkNode(c);
                    xmlFreeNode(c);
                }
            }
        }
    }
}

static void silent(void *ctx, const char *msg, ...)
{
    (void)ctx, (void)msg;
}

static void silent_structured(void *ctx, xmlErrorPtr e)
{
    (void)ctx, (void)e;
}

st_status topo_xml_prepare_buffer(const char *buf, size_t len, const char *what, char **out, size_t *outlen,
                                  int *converted)
{
    xml_check c = {what, 0, 0, 0};
    *converted = 0;
    if (len > XML_MAX_BYTES || len > INT_MAX)
        return ST_ERR(ST_ERR_FORMAT, "STRATA_TOPOLOGY '%s': %zu bytes, more than the 64 MiB an hwloc XML file may have",
                      what, len);
    xmlInitParser();
    xmlParserCtxtPtr ctx = xmlNewParserCtxt();
    if (!ctx) return ST_ERR(ST_ERR_OUT_OF_MEMORY, "STRATA_TOPOLOGY: an XML parser");
    /* libxml2 prints I/O and encoding errors through its generic handler whatever the parser's
     * options say; silenced for this thread while it parses, then restored */
    xmlGenericErrorFunc old_generic = xmlGenericError;
    void *old_generic_ctx = xmlGenericErrorContext;
    xmlStructuredErrorFunc old_structured = xmlStructuredError;
    void *old_structured_ctx = xmlStructuredErrorContext;
    xmlSetGenericErrorFunc(NULL, silent);
    xmlSetStructuredErrorFunc(NULL, silent_structured);
    /* no network, no entity substitution, no messages, and UTF-8 whatever the document declares:
     * hwloc writes UTF-8, and other encodings go through iconv (a fuzzed UTF-7 declaration
     * crashed) */
    xmlDocPtr doc = xmlCtxtReadMemory(ctx, buf, (int)len, "topology.xml", "UTF-8",
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    st_status s = ST_OK;
    if (!doc) {
        const xmlError *e = xmlCtxtGetLastError(ctx);
        s = ST_ERR(ST_ERR_FORMAT, "STRATA_TOPOLOGY '%s': not well-formed XML (line %d: %.200s)", what,
                   e ? e->line : 0, e && e->message ? e->message : "unknown error");
    }
    if (s == ST_OK) s = check_document(&c, xmlDocGetRootElement(doc));
    if (s == ST_OK && c.major == 3) {
        convert_document(xmlDocGetRootElement(doc));
        *converted = 1;
    }
    if (s == ST_OK) {
        xmlChar *mem = NULL;
        int n = 0;
        xmlDocDumpMemoryEnc(doc, &mem, &n, "UTF-8"); /* hwloc reads what it is given: UTF-8 */
        *out = mem ? malloc((size_t)n + 1) : NULL;
        if (*out) {
            memcpy(*out, mem, (size_t)n);
            (*out)[n] = '\0';
            *outlen = (size_t)n;
        } else {
            s = ST_ERR(ST_ERR_OUT_OF_MEMORY, "STRATA_TOPOLOGY '%s': serialising the checked document", what);
        }
        xmlFree(mem);
    }
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctx);
    xmlSetGenericErrorFunc(old_generic_ctx, old_generic);
    xmlSetStructuredErrorFunc(old_structured_ctx, old_structured);
    return s;
}

st_status topo_xml_prepare(const char *path, char **out, size_t *outlen, int *converted)
{
    char *text = NULL;
    size_t len = 0;
    st_status s = st_io_read_all(path, XML_MAX_BYTES, &text, &len);
    if (s != ST_OK)
        return ST_ERR(s, "STRATA_TOPOLOGY='%s': %s (expected a saved hwloc XML file, e.g. from `lstopo --of xml`, "
                         "or a shape NODESxGPUSxGCDS such as 2x4x2)", path, st_last_error());
    s = topo_xml_prepare_buffer(text, len, path, out, outlen, converted);
    free(text);
    return s;
}
