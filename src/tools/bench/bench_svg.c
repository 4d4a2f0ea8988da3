/* strata-bench's plots, hand-written SVG: grouped bars of throughput per op per machine/device
 * (compare) and a roofline (achieved GFLOP/s against arithmetic intensity, under each device's
 * peak and bandwidth ceilings); PNG copies through rsvg-convert or ImageMagick when present. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bench.h"

static const char *const colors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                     "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
#define N_COLORS (sizeof colors / sizeof colors[0])

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static FILE *svg_open(const char *path, int w, int h, const char *title)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return NULL;
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n", w, h, w, h);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n<text x=\"10\" y=\"18\" font-size=\"14\">", w, h);
    xml_text(f, title);
    fputs("</text>\n", f);
    return f;
}

static int svg_close(FILE *f, const char *path)
{
    fputs("</svg>\n", f);
    if (fclose(f) != 0) {
        perror(path);
        return 0;
    }
    return 1;
}

/* Maps a value to a pixel coordinate between lo and hi (log or linear). */
typedef struct axis {
    double vmin, vmax, lo, hi;
    int log;
} axis;

static double to_px(const axis *a, double v)
{
    double t = a->log ? (log10(v) - log10(a->vmin)) / (log10(a->vmax) - log10(a->vmin))
                      : (v - a->vmin) / (a->vmax - a->vmin);
    return a->lo + t * (a->hi - a->lo);
}

/* Grid lines with labels: decades on a log axis, five steps on a linear one. */
static void y_grid(FILE *f, const axis *a, double x0, double x1)
{
    double step = a->log ? 10.0 : (a->vmax - a->vmin) / 5.0;
    for (double v = a->log ? pow(10, floor(log10(a->vmin))) : a->vmin; v <= a->vmax * 1.0001;
         v = a->log ? v * step : v + step) {
        if (v < a->vmin * 0.9999) continue;
        double y = to_px(a, v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0, y, x1, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", x0 - 4, y + 4, v);
    }
}

static void legend(FILE *f, const char *const *names, int n, double x, double y)
{
    for (int s = 0; s < n; s++) {
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>\n<text x=\"%.1f\" y=\"%.1f\">",
                x, y + 14.0 * s, colors[s % N_COLORS], x + 14, y + 14.0 * s + 9);
        xml_text(f, names[s]);
        fputs("</text>\n", f);
    }
}

int bench_compare_svg(const char *path, const char *const *group_names, int n_groups, const char *const *series_names,
                      int n_series, const double *values)
{
    double vmin = INFINITY, vmax = 0;
    for (int i = 0; i < n_groups * n_series; i++)
        if (values[i] > 0) vmin = fmin(vmin, values[i]), vmax = fmax(vmax, values[i]);
    if (vmax <= 0) vmin = 0.1, vmax = 1;
    int log_scale = vmax / vmin > 30, bar = 8, gap = 10, left = 70, top = 40 + 14 * n_series, plot_h = 300;
    int w = left + n_groups * (n_series * bar + gap) + 20, h = top + plot_h + 260;
    axis a = {log_scale ? pow(10, floor(log10(vmin))) : 0, log_scale ? pow(10, ceil(log10(vmax))) : vmax * 1.05,
              top + plot_h, top, log_scale};
    FILE *f = svg_open(path, w < 400 ? 400 : w, h,
                       log_scale ? "throughput per op (GFLOP/s or GB/s, the row's unit; log scale)"
                                 : "throughput per op (GFLOP/s or GB/s, the row's unit)");
    if (!f) return 0;
    legend(f, series_names, n_series, left, 26);
    y_grid(f, &a, left, w - 10);
    for (int g = 0; g < n_groups; g++) {
        double x0 = left + g * (n_series * bar + gap) + gap / 2.0;
        for (int s = 0; s < n_series; s++) {
            double v = values[s * n_groups + g];
            if (v <= 0) continue;
            double y = to_px(&a, fmax(v, a.vmin));
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>", x0 + s * bar, y,
                    bar, top + plot_h - y, colors[s % N_COLORS]);
            xml_text(f, series_names[s]);
            fprintf(f, ": %.4g</title></rect>\n", v);
        }
        fprintf(f, "<text transform=\"translate(%.1f,%d) rotate(60)\">", x0 + n_series * bar / 2.0, top + plot_h + 6);
        xml_text(f, group_names[g]);
        fputs("</text>\n", f);
    }
    return svg_close(f, path);
}

/* ---- roofline ---- */

static double num(const tj_value *obj, const char *key)
{
    const tj_value *v = tj_get(obj, key);
    return v && v->type == TJ_NUMBER ? v->number : 0.0;
}

static const char *text_of(const tj_value *obj, const char *key)
{
    const tj_value *v = tj_get(obj, key);
    return v && v->type == TJ_STRING ? v->string : "";
}

/* The Strata rows with both a flop and a byte count: (intensity, achieved GFLOP/s). */
static void roofline_range(const tj_value *rows, const tj_value *devs, axis *x, axis *y)
{
    x->vmin = 0.1, x->vmax = 100, y->vmin = 1, y->vmax = 10;
    for (int i = 0; rows && i < rows->n; i++) {
        const tj_value *r = &rows->items[i];
        double fl = num(r, "flops"), by = num(r, "bytes"), ms = num(r, "median_ms");
        if (fl <= 0 || by <= 0 || ms <= 0) continue;
        x->vmin = fmin(x->vmin, fl / by), x->vmax = fmax(x->vmax, fl / by);
        y->vmin = fmin(y->vmin, fl / ms * 1e-6), y->vmax = fmax(y->vmax, fl / ms * 1e-6);
    }
    for (int i = 0; devs && i < devs->n; i++) y->vmax = fmax(y->vmax, num(&devs->items[i], "peak_gflops"));
    x->vmin = pow(10, floor(log10(x->vmin))), x->vmax = pow(10, ceil(log10(x->vmax)));
    y->vmin = pow(10, floor(log10(y->vmin))), y->vmax = pow(10, ceil(log10(y->vmax * 1.5)));
    x->log = y->log = 1;
}

static void roofline_ceilings(FILE *f, const tj_value *devs, const axis *x, const axis *y, int d, const char *color)
{
    const tj_value *dev = &devs->items[d];
    double peak = num(dev, "peak_gflops"), bw = num(dev, "peak_gbs");
    if (peak <= 0 || bw <= 0) return;
    double ridge = peak / bw, x0 = fmax(x->vmin, y->vmin / bw);
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>\n",
            color, to_px(x, x0), to_px(y, x0 * bw), to_px(x, ridge), to_px(y, peak), to_px(x, x->vmax), to_px(y, peak));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">", to_px(x, x->vmax) - 4, to_px(y, peak) - 4, color);
    xml_text(f, text_of(dev, "device"));
    fprintf(f, " %.4g GFLOP/s (%s), %.4g GB/s (%s)</text>\n", peak, text_of(dev, "peak_gflops_source"), bw,
            text_of(dev, "peak_gbs_source"));
}

int bench_roofline_svg(const char *path, const tj_value *doc)
{
    const tj_value *rows = tj_get(doc, "results"), *devs = tj_get(doc, "devices");
    int w = 900, h = 620, left = 70, top = 40, right = w - 20, bottom = h - 60;
    axis x, y;
    roofline_range(rows, devs, &x, &y);
    x.lo = left, x.hi = right, y.lo = bottom, y.hi = top;
    FILE *f = svg_open(path, w, h, "roofline: achieved GFLOP/s against flops per byte (log-log)");
    if (!f) return 0;
    y_grid(f, &y, left, right);
    for (double v = x.vmin; v <= x.vmax * 1.0001; v *= 10)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", to_px(&x, v), bottom + 16, v);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">arithmetic intensity (flop/byte)</text>\n",
            (left + right) / 2, bottom + 34);
    int nd = devs && devs->type == TJ_ARRAY ? devs->n : 0;
    for (int d = 0; d < nd; d++) roofline_ceilings(f, devs, &x, &y, d, colors[d % N_COLORS]);
    for (int i = 0; rows && i < rows->n; i++) {
        const tj_value *r = &rows->items[i], *base = tj_get(r, "baseline");
        double fl = num(r, "flops"), by = num(r, "bytes"), ms = num(r, "median_ms");
        if (fl <= 0 || by <= 0 || ms <= 0) continue;
        int d = 0;
        while (d < nd && strcmp(text_of(&devs->items[d], "device"), text_of(r, "device")) != 0) d++;
        int hollow = base && base->type == TJ_BOOL && base->boolean;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" stroke=\"%s\"><title>", to_px(&x, fl / by),
                to_px(&y, fl / ms * 1e-6), hollow ? "none" : colors[d % N_COLORS], colors[d % N_COLORS]);
        xml_text(f, text_of(r, "device"));
        fputc(' ', f);
        xml_text(f, text_of(r, "op"));
        fputc(' ', f);
        xml_text(f, text_of(r, "shape"));
        fprintf(f, ": %.4g GFLOP/s</title></circle>\n", fl / ms * 1e-6);
    }
    return svg_close(f, path);
}

/* ---- PNG ---- */

static int on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];
    for (const char *p = path ? path : ""; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
        if (n && access(buf, X_OK) == 0) return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

static int run(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void bench_svg_to_png(const char *svg_path)
{
    char png[4096];
    size_t len = strlen(svg_path);
    snprintf(png, sizeof png, "%.*s.png", (int)(len > 4 && strcmp(svg_path + len - 4, ".svg") == 0 ? len - 4 : len),
             svg_path);
    int ok = 0;
    const char *tool = NULL;
    if (on_path("rsvg-convert")) {
        tool = "rsvg-convert";
        ok = run((char *const[]){"rsvg-convert", "-o", png, (char *)svg_path, NULL});
    } else if (on_path("convert")) {
        tool = "convert";
        ok = run((char *const[]){"convert", (char *)svg_path, png, NULL});
    }
    if (!tool) printf("PNG: skipped (neither rsvg-convert nor ImageMagick's convert is on PATH)\n");
    else if (ok) printf("PNG written to %s (%s)\n", png, tool);
    else printf("PNG: %s failed on %s\n", tool, svg_path);
}
