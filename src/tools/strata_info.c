/* strata-info: what this Strata build can run on. Lists every backend (loaded or why not), every
 * device with its properties, and the device that STRATA_BACKEND / STRATA_DEVICE select.
 * The report is gathered once into `info_report`, then rendered as text or JSON.
 * --topology prints the machine tree (hwloc, or STRATA_TOPOLOGY) and the place of each rank. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strata/strata.h>
#include "tool_json.h"

#define MAX_BACKENDS 16
#define MAX_DEVICES 64

/* Command-line switches. A new option is one field here and one row in `options`. */
typedef struct info_options {
    int json;
    int topology;
    int ranks; /* --ranks N; 0 = the topology's own count */
    int help;
} info_options;

/* has_value: the option takes a positive integer argument ("--ranks 8"). */
static const struct {
    const char *flag;
    size_t field;
    int has_value;
    const char *help;
} options[] = {
    {"--json", offsetof(info_options, json), 0, "print the same report as JSON on stdout"},
    {"--topology", offsetof(info_options, topology), 0,
     "print the machine tree (hwloc, or STRATA_TOPOLOGY) and each rank's place instead"},
    {"--ranks", offsetof(info_options, ranks), 1,
     "N: with --topology, place N ranks (default: the emulated shape's\n"
     "               product, else the GPU devices found, else 1)"},
    {"--help", offsetof(info_options, help), 0, "show this help and exit"},
};
#define N_OPTIONS ((int)(sizeof options / sizeof options[0]))

typedef struct info_device {
    st_status status; /* of st_device_get / st_device_props_get */
    char error[512];
    const char *label;
    st_device_props props;
} info_device;

typedef struct info_backend {
    st_backend_info info;
    int n_devices; /* devices listed (device_count capped at MAX_DEVICES) */
    info_device devices[MAX_DEVICES];
} info_backend;

typedef struct info_report {
    int n_backends;
    info_backend backends[MAX_BACKENDS];
    const char *env_backend, *env_device; /* NULL when unset */
    st_status default_status;
    char default_error[2048];
    const char *default_label;
    st_device_props default_props;
} info_report;

static void usage(FILE *f)
{
    fprintf(f, "usage: strata-info [options]\n\n"
               "Lists Strata's backends, their devices, and the device that STRATA_BACKEND and\n"
               "STRATA_DEVICE select. Exits non-zero only when that selection fails.\n"
               "With --topology: the machine's tree and the place of each of N ranks (--ranks N);\n"
               "under mpirun (without --ranks), the job's hierarchy as the ranks detect it: each\n"
               "rank's host, node, GPU and GCD, printed by rank 0.\n"
               "strata-info --plan [--help] predicts each partitioning scheme's communication and\n"
               "memory for a model on a topology, and picks one (see docs/partitioning.md).\n\noptions:\n");
    for (int i = 0; i < N_OPTIONS; i++) fprintf(f, "  %-12s %s\n", options[i].flag, options[i].help);
}

static int parse_count(const char *text, int *out)
{
    char *end;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || end == text || *end || v < 1 || v > 1 << 24)
        return 0;
    *out = (int)v;
    return 1;
}

static int parse_options(int argc, char **argv, info_options *o)
{
    memset(o, 0, sizeof *o);
    for (int a = 1; a < argc; a++) {
        int known = 0;
        for (int i = 0; i < N_OPTIONS && !known; i++)
            if (strcmp(argv[a], options[i].flag) == 0) {
                int *field = (int *)((char *)o + options[i].field);
                known = 1;
                if (!options[i].has_value) {
                    *field = 1;
                } else if (!parse_count(a + 1 < argc ? argv[++a] : NULL, field)) {
                    fprintf(stderr, "strata-info: %s needs a positive integer\n", options[i].flag);
                    return 0;
                }
            }
        if (!known) {
            fprintf(stderr, "strata-info: unknown option '%s'\n", argv[a]);
            usage(stderr);
            return 0;
        }
    }
    return 1;
}

static void gather_devices(info_backend *b)
{
    int n = b->info.device_count < MAX_DEVICES ? b->info.device_count : MAX_DEVICES;
    b->n_devices = n;
    for (int d = 0; d < n; d++) {
        info_device *dv = &b->devices[d];
        st_device *dev = NULL;
        dv->status = st_device_get(b->info.name, d, &dev);
        if (dv->status == ST_OK) dv->status = st_device_props_get(dev, &dv->props);
        dv->label = st_device_label(dev);
        if (dv->status != ST_OK) snprintf(dv->error, sizeof dv->error, "%s", st_last_error());
    }
}

static void gather(info_report *r)
{
    r->n_backends = st_backend_count() < MAX_BACKENDS ? st_backend_count() : MAX_BACKENDS;
    for (int i = 0; i < r->n_backends; i++) {
        info_backend *b = &r->backends[i];
        if (st_backend_info_get(i, &b->info) != ST_OK) {
            b->info.name = "?";
            b->info.reason = st_last_error();
            continue;
        }
        gather_devices(b);
    }
    r->env_backend = getenv("STRATA_BACKEND");
    r->env_device = getenv("STRATA_DEVICE");
    st_device *dev = NULL;
    r->default_status = st_device_default(&dev);
    if (r->default_status == ST_OK) r->default_status = st_device_props_get(dev, &r->default_props);
    if (r->default_status != ST_OK)
        snprintf(r->default_error, sizeof r->default_error, "%s", st_last_error());
    r->default_label = st_device_label(dev);
}

/* ---- text ---- */

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

/* Reasons join their parts with "; ": one part a line reads better. */
static void print_reason(const char *reason)
{
    const char *p = reason;
    printf("        reason:");
    while (*p) {
        const char *end = strstr(p, "; ");
        int len = end ? (int)(end - p) : (int)strlen(p);
        if (len > 0) printf("\n          %.*s", len, p);
        p += len + (end ? 2 : 0);
    }
    printf("\n");
}

static void print_device_text(const info_device *dv)
{
    if (dv->status != ST_OK) {
        printf("    %s  (properties unavailable: %s)\n", dv->label, dv->error);
        return;
    }
    const st_device_props *p = &dv->props;
    printf("    %s  %s\n", dv->label, or_dash(p->name));
    printf("        vendor %s, type %s, driver %s\n", or_dash(p->vendor), or_dash(p->type), or_dash(p->driver));
    printf("        memory %.1f GiB, %d compute units\n", (double)p->memory_bytes / (1024.0 * 1024 * 1024),
           p->compute_units);
    if (p->peak_gflops_f32 > 0 || p->peak_gbps > 0)
        printf("        peak %.0f GFLOP/s f32, %.0f GB/s memory (0 = unknown)\n", p->peak_gflops_f32, p->peak_gbps);
    else
        printf("        peak figures unknown\n");
    if (p->extra && *p->extra) printf("        extra: %s\n", p->extra);
    if (p->pci_bus_id && *p->pci_bus_id) printf("        PCI bus id %s\n", p->pci_bus_id);
}

static void print_text(const info_report *r)
{
    printf("Strata %s (headers %d.%d.%d)\n", st_version_string(), ST_VERSION_MAJOR, ST_VERSION_MINOR,
           ST_VERSION_PATCH);
    if (st_version() != ST_VERSION) printf("warning: the loaded libstrata is not the version of these headers\n");
    printf("\nBackends:\n");
    for (int i = 0; i < r->n_backends; i++) {
        const info_backend *b = &r->backends[i];
        const st_backend_info *in = &b->info;
        if (in->loaded)
            printf("  %-8s loaded, %d device%s\n", in->name, in->device_count, in->device_count == 1 ? "" : "s");
        else
            printf("  %-8s not loaded\n", in->name);
        printf("        plugin: %s\n", or_dash(in->plugin_path));
        if (in->loaded) printf("        runtime: %s\n", or_dash(in->runtime));
        if (in->reason && *in->reason) print_reason(in->reason);
        for (int d = 0; d < b->n_devices; d++) print_device_text(&b->devices[d]);
        if (in->device_count > b->n_devices) printf("    ... %d more\n", in->device_count - b->n_devices);
    }
    printf("\nDefault device (STRATA_BACKEND=%s, STRATA_DEVICE=%s): ", r->env_backend ? r->env_backend : "(unset)",
           r->env_device ? r->env_device : "(unset)");
    if (r->default_status == ST_OK)
        printf("%s, %s\n", r->default_label, or_dash(r->default_props.name));
    else
        printf("none\n  %s\n", r->default_error);
}

/* ---- JSON ---- */

static void json_device(tool_json *j, const info_device *dv)
{
    tj_object_begin(j, NULL);
    tj_string(j, "label", dv->label);
    if (dv->status != ST_OK) {
        tj_string(j, "status", st_status_string(dv->status));
        tj_string(j, "error", dv->error);
    } else {
        const st_device_props *p = &dv->props;
        tj_string(j, "name", p->name);
        tj_string(j, "vendor", p->vendor);
        tj_string(j, "type", p->type);
        tj_string(j, "driver", p->driver);
        tj_int(j, "memory_bytes", (int64_t)p->memory_bytes);
        tj_int(j, "compute_units", p->compute_units);
        tj_double(j, "peak_gflops_f32", p->peak_gflops_f32);
        tj_double(j, "peak_gbps", p->peak_gbps);
        tj_string(j, "extra", p->extra);
        tj_string(j, "pci_bus_id", p->pci_bus_id ? p->pci_bus_id : "");
    }
    tj_object_end(j);
}

static void json_backend(tool_json *j, const info_backend *b)
{
    const st_backend_info *in = &b->info;
    tj_object_begin(j, NULL);
    tj_string(j, "name", in->name);
    tj_bool(j, "loaded", in->loaded);
    tj_int(j, "device_count", in->device_count);
    tj_string(j, "plugin_path", in->plugin_path);
    tj_string(j, "runtime", in->runtime);
    tj_string(j, "reason", in->reason);
    tj_array_begin(j, "devices");
    for (int d = 0; d < b->n_devices; d++) json_device(j, &b->devices[d]);
    tj_array_end(j);
    tj_object_end(j);
}

static void print_json(const info_report *r)
{
    tool_json j;
    tj_init(&j, stdout);
    tj_object_begin(&j, NULL);
    tj_string(&j, "version", st_version_string());
    tj_bool(&j, "header_matches_library", st_version() == ST_VERSION);
    tj_array_begin(&j, "backends");
    for (int i = 0; i < r->n_backends; i++) json_backend(&j, &r->backends[i]);
    tj_array_end(&j);
    tj_object_begin(&j, "default");
    tj_string(&j, "STRATA_BACKEND", r->env_backend);
    tj_string(&j, "STRATA_DEVICE", r->env_device);
    tj_bool(&j, "ok", r->default_status == ST_OK);
    if (r->default_status == ST_OK) {
        tj_string(&j, "label", r->default_label);
        tj_string(&j, "name", r->default_props.name);
    } else {
        tj_string(&j, "status", st_status_string(r->default_status));
        tj_string(&j, "error", r->default_error);
    }
    tj_object_end(&j);
    tj_object_end(&j);
    tj_finish(&j);
}

/* ---- topology ---- */

static int default_ranks(const st_topo *t)
{
    st_topo_counts c;
    if (st_topo_get_counts(t, &c) != ST_OK || c.devices < 1)
        return 1;
    return c.devices;
}

static void print_places(const st_topo *t, int nranks)
{
    printf("\nPlaces of %d rank%s (one node: local rank = rank):\n", nranks, nranks == 1 ? "" : "s");
    for (int r = 0; r < nranks; r++) {
        st_place p;
        if (st_topo_place(t, r, nranks, r, nranks, &p) != ST_OK) {
            printf("  rank %d: %s\n", r, st_last_error());
            continue;
        }
        st_topo_shape sh;
        st_topo_device d;
        st_topo_get_shape(t, &sh);
        int dev = p.gpu * sh.gcds_per_gpu + p.gcd;
        printf("  rank %d: node %d, GPU %d, GCD %d", r, p.node, p.gpu, p.gcd);
        if (p.node < 0 && nranks <= default_ranks(t) && st_topo_get_device(t, dev, &d) == ST_OK)
            printf("  -> device %d %s %s%s%s", dev, d.pci_busid, d.name, *d.device ? " = " : "", d.device);
        else if (p.node < 0)
            printf("  (no GPU of its own: binds to a fair share of the cores)");
        printf("\n");
    }
}

/* Under a launcher: the job's hierarchy as the communicator detected it, each rank's host and
 * place, printed by rank 0 after the tree of its own host. */
static int launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

static int run_job_topology(void)
{
    st_comm *c = NULL;
    if (st_comm_init_world(&c) != ST_OK) {
        fprintf(stderr, "strata-info: %s\n", st_last_error());
        return 1;
    }
    int rc = 0;
    if (st_comm_rank(c) == 0) {
        st_topo *t = NULL;
        if (st_topo_load(&t) == ST_OK) {
            printf("Host %s:\n", st_comm_host_name(c, 0));
            st_topo_print(t, 0, stdout);
        }
        st_topo_source src = t ? st_topo_get_source(t) : ST_TOPO_DETECTED;
        st_topo_destroy(t);
        st_topo_shape sh;
        st_comm_shape(c, &sh);
        int n = st_comm_size(c), g = sh.gpus_per_node, d = sh.gcds_per_gpu;
        printf("\nJob: %d ranks = %d node%s x %d GPU%s x %d GCD%s (%s)\n", n, sh.nodes,
               sh.nodes == 1 ? "" : "s", g, g == 1 ? "" : "s", d, d == 1 ? "" : "s",
               src == ST_TOPO_EMULATED ? "emulated by STRATA_TOPOLOGY"
               : getenv("STRATA_NODE_ID") ? "detected: hosts grouped into nodes by STRATA_NODE_ID"
                                          : "detected: one node per host");
        /* Comm ranks are in hierarchy order (comm.h): rank = (gcd * g + gpu) * nodes + node. */
        for (int node = 0; node < sh.nodes; node++)
            for (int gpu = 0; gpu < g; gpu++)
                for (int gcd = 0; gcd < d; gcd++) {
                    int r = (gcd * g + gpu) * sh.nodes + node;
                    printf("  rank %d: host %s, node %d, GPU %d, GCD %d\n", r, st_comm_host_name(c, r), node, gpu,
                           gcd);
                }
    }
    st_comm_destroy(c);
    return rc;
}

static int run_topology(const info_options *o)
{
    if (launched() && !o->ranks) return run_job_topology();
    st_topo *t = NULL;
    if (st_topo_load(&t) != ST_OK) {
        fprintf(stderr, "strata-info: %s\n", st_last_error());
        return 1;
    }
    int nranks = o->ranks ? o->ranks : default_ranks(t);
    int rc = 0;
    if (st_topo_print(t, nranks, stdout) != ST_OK) {
        fprintf(stderr, "strata-info: %s\n", st_last_error());
        rc = 1;
    } else {
        print_places(t, nranks);
    }
    st_topo_destroy(t);
    return rc;
}

/* strata-info --plan: the partitioning planner's table (info_plan.c). */
int info_plan_main(int argc, char **argv, FILE *out);

int main(int argc, char **argv)
{
    for (int a = 1; a < argc; a++)
        if (strcmp(argv[a], "--plan") == 0) return info_plan_main(argc, argv, stdout);
    info_options o;
    if (!parse_options(argc, argv, &o)) return 2;
    if (o.help) {
        usage(stdout);
        return 0;
    }
    if (o.topology) return run_topology(&o);
    /* Large (the devices' props): static rather than on the stack. */
    static info_report report;
    gather(&report);
    if (o.json) print_json(&report);
    else print_text(&report);
    int ok = report.default_status == ST_OK;
    st_shutdown();
    return ok ? 0 : 1;
}
