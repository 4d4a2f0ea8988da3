/* The destructors' earlier names, kept so that existing callers build and run unchanged: every
 * destructor is now st_<object>_destroy (the headers mark these ST_DEPRECATED). Each is the same
 * function under its old name. */
#include "strata/checkpoint.h"
#include "strata/ckpt_dir.h"
#include "strata/comm.h"
#include "strata/data.h"
#include "strata/tensor.h"
#include "strata/tokenizer.h"
#include "strata/topo.h"

void st_tensor_free(st_tensor *t) { st_tensor_destroy(t); }
void st_comm_free(st_comm *c) { st_comm_destroy(c); }
void st_topo_free(st_topo *t) { st_topo_destroy(t); }
void st_dataset_close(st_dataset *ds) { st_dataset_destroy(ds); }
void st_safetensors_close(st_safetensors *f) { st_safetensors_destroy(f); }
void st_llmc_close(st_llmc_model *m) { st_llmc_destroy(m); }
void st_ckpt_dir_close(st_ckpt_dir *d) { st_ckpt_dir_destroy(d); }
void st_tokenizer_free(st_tokenizer *tok) { st_tokenizer_destroy(tok); }
void st_token_buf_free(st_token_buf *b) { st_token_buf_destroy(b); }
void st_tok_trainer_free(st_tok_trainer *t) { st_tok_trainer_destroy(t); }
