/* Declarations shared by the files of src/optim: the parameter set's arena regions, which the
 * optimizers update with one op per region. */
#ifndef STRATA_OPTIM_INTERNAL_H
#define STRATA_OPTIM_INTERNAL_H

#include "strata/optim.h"

/* New views (owned by the caller) of the decay (decay != 0) or no-decay region of the flat
 * parameter and gradient arenas. */
st_status st_params_region(const st_params *ps, int decay, st_tensor **param, st_tensor **grad);

/* Length of the flat arenas, padding included. */
int64_t st_params_flat_numel(const st_params *ps);

#endif
