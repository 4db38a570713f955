/* model-setup.h: what the commands that run the model share: finding the model file, loading it
 * with the user's RoPE overrides, and setting up a context. Errors are printed here (tui/). */
#ifndef QUIRE_TUI_MODEL_SETUP_H
#define QUIRE_TUI_MODEL_SETUP_H

#include "engine/context.h"
#include "engine/model.h"
#include "tui/cmd.h"

/* The model path: -m, else the default model in $XDG_DATA_HOME/quire/models. Malloc'd. */
char *model_setup_path(const struct opts *o);
/* Load the model of -m (or the default); prints the error and returns -1 on failure. */
int model_setup_load(const struct opts *o, struct model **out);
/* Translate the --rope-* options into engine overrides; 2 on a usage error (printed). */
int model_setup_rope_overrides(const struct opts *o, struct rope_overrides *ov);
/* A context of n_ctx positions (0 = --ctx, else the model's window) with -t threads and the
 * RoPE overrides; prints the error and returns -1 on failure. */
int model_setup_context(const struct opts *o, const struct model *m, uint32_t n_ctx,
    struct context **out);

/* The model's window: --ctx, else the trained one. */
uint32_t model_setup_window(const struct opts *o, const struct model *m);
/* A context for the corpus cache: n_ctx slots of memory, batches of n_batch (0 = 512), RoPE
 * set up for the model's window whatever n_ctx is, so that every run over one cache rotates
 * alike. Prints the error and returns -1 on failure. */
int model_setup_cache_context(const struct opts *o, const struct model *m, uint32_t n_ctx,
    uint32_t n_batch, struct context **out);

#endif
