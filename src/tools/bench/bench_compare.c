/* `strata-bench compare A.json B.json ...`: lines up the rows of several runs (one column per
 * machine and device), prints each rate with its ratio to the first column, and plots them
 * (bench_svg.c). Corrupt or foreign files are refused with the reason and a non-zero exit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

#define MAX_DOCS 16
#define MAX_SERIES 64
#define MAX_GROUPS 1024

typedef struct table {
    char *series[MAX_SERIES]; /* "host device" */
    int n_series;
    char *groups[MAX_GROUPS]; /* "suite op shape" */
    const char *units[MAX_GROUPS];
    int n_groups;
    double *values; /* [series][group], 0 for none */
} table;

static const char *str(const tj_value *obj, const char *key)
{
    const tj_value *v = tj_get(obj, key);
    return v && v->type == TJ_STRING ? v->string : "";
}

/* The file is a strata-bench document with rows to compare; else the reason. */
static int check_doc(const tj_value *doc, char *err, size_t len)
{
    const tj_value *schema = tj_get(doc, "schema"), *rows = tj_get(doc, "results");
    if (!doc || doc->type != TJ_OBJECT) snprintf(err, len, "not a JSON object");
    else if (!schema || schema->type != TJ_STRING || strcmp(schema->string, BENCH_SCHEMA) != 0)
        snprintf(err, len, "no \"schema\": \"%s\" (not a strata-bench document, or another version)", BENCH_SCHEMA);
    else if (!rows || rows->type != TJ_ARRAY) snprintf(err, len, "no \"results\" array");
    else return 1;
    return 0;
}

static int find_or_add(char **names, int *n, int max, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0) return i;
    if (*n == max || !(names[*n] = strdup(name))) return -1;
    return (*n)++;
}

/* One column per file and device: "2: host cpu:0" (the file's position keeps two runs of one
 * machine apart). */
static void add_rows(table *t, const tj_value *doc, int file)
{
    const tj_value *env = tj_get(doc, "environment"), *rows = tj_get(doc, "results");
    for (int i = 0; i < rows->n; i++) {
        const tj_value *row = &rows->items[i], *ok = tj_get(row, "ok"), *rate = tj_get(row, "rate_median");
        if (!ok || ok->type != TJ_BOOL || !ok->boolean || !rate || rate->type != TJ_NUMBER) continue;
        char name[256], group[256];
        snprintf(name, sizeof name, "%d: %s %s", file + 1, str(env, "host"), str(row, "device"));
        snprintf(group, sizeof group, "%s %s %s", str(row, "suite"), str(row, "op"), str(row, "shape"));
        int s = find_or_add(t->series, &t->n_series, MAX_SERIES, name);
        int g = find_or_add(t->groups, &t->n_groups, MAX_GROUPS, group);
        if (s < 0 || g < 0) continue;
        t->units[g] = tj_get(row, "unit") ? str(row, "unit") : "";
        t->values[s * MAX_GROUPS + g] = rate->number;
    }
}

static void print_table(const table *t)
{
    printf("%-60s %-8s", "suite op shape", "unit");
    for (int s = 0; s < t->n_series; s++) printf(" %22.22s", t->series[s]);
    printf("\n(ratios: each column over the row's first figure)\n");
    for (int g = 0; g < t->n_groups; g++) {
        printf("%-60.60s %-8s", t->groups[g], t->units[g]);
        int first = 0;
        while (first < t->n_series - 1 && t->values[first * MAX_GROUPS + g] <= 0) first++;
        double base = t->values[first * MAX_GROUPS + g];
        for (int s = 0; s < t->n_series; s++) {
            double v = t->values[s * MAX_GROUPS + g];
            if (v <= 0) printf(" %22s", "-");
            else if (s == first) printf(" %13.2f         ", v);
            else printf(" %13.2f (%5.2fx)", v, v / base);
        }
        printf("\n");
    }
}

static int plot(const table *t, const char *svg)
{
    double *packed = malloc(sizeof(double) * (size_t)(t->n_series * (t->n_groups ? t->n_groups : 1)));
    if (!packed) return 0;
    for (int s = 0; s < t->n_series; s++)
        for (int g = 0; g < t->n_groups; g++) packed[s * t->n_groups + g] = t->values[s * MAX_GROUPS + g];
    int ok = bench_compare_svg(svg, (const char *const *)t->groups, t->n_groups, (const char *const *)t->series,
                               t->n_series, packed);
    free(packed);
    if (ok) {
        printf("plot written to %s\n", svg);
        bench_svg_to_png(svg);
    }
    return ok;
}

int bench_compare_main(int argc, char **argv)
{
    const char *files[MAX_DOCS], *svg = "compare.svg", *roofline = NULL;
    int n = 0, rc = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--svg") == 0 && a + 1 < argc) svg = argv[++a];
        else if (strcmp(argv[a], "--roofline") == 0 && a + 1 < argc) roofline = argv[++a];
        else if (argv[a][0] == '-' || n == MAX_DOCS) {
            fprintf(stderr, "usage: strata-bench compare A.json [B.json ...] [--svg FILE] [--roofline FILE]\n"
                            "       (at most %d files)\n", MAX_DOCS);
            return 2;
        } else files[n++] = argv[a];
    }
    if (n == 0) {
        fprintf(stderr, "strata-bench compare: no JSON files given\n");
        return 2;
    }
    tj_value *docs[MAX_DOCS] = {NULL};
    table t = {.values = calloc((size_t)MAX_SERIES * MAX_GROUPS, sizeof(double))};
    for (int i = 0; i < n && !rc; i++) {
        char err[512], why[256];
        if (!(docs[i] = tj_parse_file(files[i], err, sizeof err))) {
            fprintf(stderr, "strata-bench compare: %s\n", err);
            rc = 1;
        } else if (!check_doc(docs[i], why, sizeof why)) {
            fprintf(stderr, "strata-bench compare: %s: %s\n", files[i], why);
            rc = 1;
        } else if (t.values) {
            add_rows(&t, docs[i], i);
        }
    }
    if (!rc && !t.values) rc = 1;
    if (!rc) {
        print_table(&t);
        if (!plot(&t, svg)) rc = 1;
        if (!rc && roofline && !bench_roofline_svg(roofline, docs[0])) rc = 1;
        else if (!rc && roofline) printf("roofline of %s written to %s\n", files[0], roofline);
    }
    for (int i = 0; i < n; i++) tj_value_free(docs[i]);
    for (int i = 0; i < t.n_series; i++) free(t.series[i]);
    for (int i = 0; i < t.n_groups; i++) free(t.groups[i]);
    free(t.values);
    return rc;
}
