/* The JSONL log's header line: one per run (a resumed run appends its own), with the model, the
 * data and every option that shapes the run, so that a log says how it was made. */
#include <string.h>
#include "train_run.h"

/* s as a JSON string (quotes, backslashes and control characters escaped). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void key_str(FILE *f, const char *key, const char *v)
{
    fprintf(f, ", \"%s\": ", key);
    json_str(f, v);
}

void train_log_header(run *r)
{
    const train_opts *o = r->o;
    const gpt2_config *c = &r->cfg;
    FILE *f = r->log;
    fprintf(f, "{\"header\": {\"format\": \"strata-train-log-2\", \"start_step\": %lld, \"ranks\": %d",
            (long long)r->start, r->ranks);
    key_str(f, "model", o->model);
    fprintf(f, ", \"n_layer\": %d, \"n_head\": %d, \"n_embd\": %d, \"n_ctx\": %d, \"vocab_size\": %d, "
            "\"padded_vocab_size\": %d, \"params\": %lld", c->L, c->H, c->C, c->T, c->V, c->Vp,
            (long long)st_params_numel(r->ps));
    key_str(f, "data", o->data);
    key_str(f, "val", o->val ? o->val : "");
    key_str(f, "data_order", TRAIN_DATA_ORDER_NAMES[o->data_order & 1]);
    fprintf(f, ", \"steps\": %lld, \"batch\": %lld, \"global_batch\": %lld, \"seq\": %lld, \"grad_accum\": %lld",
            (long long)o->steps, (long long)o->batch, (long long)(o->batch * r->ranks), (long long)r->T,
            (long long)o->grad_accum);
    fprintf(f, ", \"lr\": %.17g", o->lr);
    key_str(f, "lr_schedule", TRAIN_SCHED_NAMES[o->lr_schedule & 3]);
    fprintf(f, ", \"warmup\": %lld, \"min_lr\": %.17g, \"weight_decay\": %.17g, \"decay_embeddings\": %s, "
            "\"beta1\": %.17g, \"beta2\": %.17g, \"eps\": %.17g, \"grad_clip\": %.17g, \"seed\": %llu",
            (long long)r->warmup, train_min_lr(o), o->weight_decay, o->no_decay_emb ? "false" : "true", o->beta1,
            o->beta2, o->eps, o->max_norm, (unsigned long long)o->seed);
    key_str(f, "dtype", o->bf16 ? "bf16" : "f32");
    key_str(f, "partition", o->partition ? o->partition : "");
    key_str(f, "ckpt", o->ckpt ? o->ckpt : "");
    key_str(f, "device", st_device_label(r->dev));
    fputs("}}\n", f);
}
