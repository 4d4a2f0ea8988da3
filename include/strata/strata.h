/* Strata: one C API for tensors, training and collectives over CPU, OpenCL, CUDA and HIP.
 * Include this header for the whole public API. */
#ifndef STRATA_H
#define STRATA_H

#include "strata/status.h"
#include "strata/device.h"
#include "strata/tensor.h"
#include "strata/ops.h"
#include "strata/grad.h"
#include "strata/data.h"
#include "strata/tokenizer.h"
#include "strata/checkpoint.h"
#include "strata/ckpt_dir.h"
#include "strata/graph.h"
#include "strata/optim.h"
#include "strata/topo.h"
#include "strata/comm.h"
#include "strata/partition.h"
#include "strata/plan.h"
#include "strata/shard.h"

#endif
