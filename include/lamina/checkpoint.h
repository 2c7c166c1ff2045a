/**
 * @file lamina/checkpoint.h
 * @brief Checkpoints (safetensors files of a model, its optimizer and a run's position) and
 *        weights imported from PyTorch by tensor name.
 */
#ifndef LAMINA_CHECKPOINT_H
#define LAMINA_CHECKPOINT_H

#include "lamina/model.h"

#ifdef __cplusplus
extern "C" {
#endif


/**
 * Checkpoints are safetensors files (8-byte little-endian header length, JSON header, raw
 * little-endian data), so PyTorch and NumPy users can read lamina weights. Tensors:
 *  - every parameter by its view name: "<node name>.weight" and ".bias", the node name being
 *    the spec's name= (e.g. "layer1.0.conv1.weight") or the kind and index ("conv2d#0"),
 *    in PyTorch's layouts (conv (C_out, C_in/g, KH, KW), linear (out, in)); batch-norm
 *    running statistics "<node name>.running_mean" and ".running_var";
 *  - with an optimizer: each state array as "optim.<state name>" and "optim.t" (I64 scalar);
 *  - any extra float arrays and int64 scalars the caller adds (the CLI stores "norm.mean",
 *    "norm.std", "train.epoch", "train.cursor", ...).
 * Metadata: "lamina.format" = "1", "lamina.spec", "lamina.input" ("1x28x28"),
 * "lamina.n_out", "lamina.step", plus the caller's key/value strings.
 * The file is written to a temporary sibling, fsynced and renamed over `path`: a failed or
 * killed save never damages the previous file.
 */
typedef struct lam_ckpt_floats {
    const char *name;
    const float *data;
    int64_t n;
} lam_ckpt_floats;

typedef struct lam_ckpt_extras {
    const lam_ckpt_floats *floats; /**< extra float arrays, saved as 1-D F32 */
    int n_floats;
    const char *const *int_names;  /**< extra int64 scalars, saved as I64 */
    const int64_t *ints;
    int n_ints;
    const char *const *meta_keys;  /**< extra metadata strings */
    const char *const *meta_vals;
    int n_meta;
} lam_ckpt_extras;

/**
 * Save the model (and the optimizer state if opt is not NULL) to path, atomically.
 * Refuses to write non-finite weights (LAM_ERR_NUMERIC: a NaN never reaches a checkpoint).
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_NUMERIC, LAM_ERR_NOMEM, LAM_ERR_IO (old file intact).
 */
LAM_API lam_status lam_checkpoint_save(lam_model *m, const lam_optim *opt, const char *path,
                                       const lam_ckpt_extras *extras);

typedef struct lam_checkpoint lam_checkpoint;

/**
 * Open and validate a checkpoint. Everything malformed is LAM_ERR_FORMAT (or LAM_ERR_IO if
 * it cannot be read) with a message naming the file.
 */
LAM_API lam_status lam_checkpoint_open(lam_ctx *ctx, const char *path, lam_checkpoint **out);
LAM_API void lam_checkpoint_close(lam_checkpoint *ck);
/** A metadata value, or NULL. Valid until close. */
LAM_API const char *lam_checkpoint_meta(const lam_checkpoint *ck, const char *key);
/** Build the model the checkpoint describes (spec, input shape, n_out) for max_batch and
 *  load its weights and buffers. A spec whose parameters and buffers need far more bytes
 *  than the file's float32 tensors hold is LAM_ERR_FORMAT before anything is allocated for
 *  it; a failure to build the model keeps its status, with the file named in the message. */
LAM_API lam_status lam_checkpoint_model(lam_checkpoint *ck, int64_t max_batch,
                                        lam_model **out);
/**
 * Load weights and buffers into an existing model. Every tensor must exist with the same
 * shape: a checkpoint of another model gives LAM_ERR_SHAPE or LAM_ERR_FORMAT naming the
 * tensor, and the model is left unchanged. A NaN or Inf value is LAM_ERR_FORMAT too. Also
 * restores the model's step counter.
 */
LAM_API lam_status lam_checkpoint_load_weights(lam_checkpoint *ck, lam_model *m);
/** Restore an optimizer's state arrays and step counter (same parameters, same kind). A
 *  missing or non-finite array is LAM_ERR_FORMAT, another size LAM_ERR_SHAPE; on failure
 *  the optimizer is unchanged. */
LAM_API lam_status lam_checkpoint_load_optim(lam_checkpoint *ck, lam_optim *opt);
/** Whether the checkpoint holds optimizer state. */
LAM_API int lam_checkpoint_has_optim(const lam_checkpoint *ck);
/** Copy an extra float array of exactly n elements; LAM_ERR_FORMAT if missing. */
LAM_API lam_status lam_checkpoint_floats(lam_checkpoint *ck, const char *name, float *dst,
                                         int64_t n);
/** Length of an extra float array, or -1 if missing. */
LAM_API int64_t lam_checkpoint_floats_len(const lam_checkpoint *ck, const char *name);
/** Read an extra int64 scalar; LAM_ERR_FORMAT if missing. */
LAM_API lam_status lam_checkpoint_int(lam_checkpoint *ck, const char *name, int64_t *v);

/* ---------------------------------------------------------------- import */

/** How lam_model_import() matches a weights file. Fill with lam_import_desc_init(). */
typedef struct lam_import_desc {
    /** Prefix removed from the file's tensor names before matching (e.g. "module." of a
     *  model saved from torch.nn.DataParallel), when a name starts with it; NULL: none. */
    const char *strip_prefix;
    /** 0 (default): a tensor of the file that matches nothing in the model is an error. 1:
     *  such tensors are skipped (counted in the report). */
    int allow_unused;
    uint64_t reserved[6]; /**< must be zero */
} lam_import_desc;

/** Defaults: no prefix, unused tensors are errors. NULL is a no-op. */
LAM_API void lam_import_desc_init(lam_import_desc *d);

/** What lam_model_import() did. */
typedef struct lam_import_report {
    int tensors;      /**< model tensors loaded (parameters and buffers) */
    int converted;    /**< of those, stored in the file as F64, F16 or BF16 and converted */
    int ignored;      /**< file tensors ignored: every "num_batches_tracked", and unused ones
                           when allow_unused is set */
    int64_t floats;   /**< values loaded */
    uint64_t reserved[4];
} lam_import_report;

/**
 * Load weights into a model by name from a safetensors file, such as a PyTorch
 * state_dict() written by tools/export_torch.py. Every parameter and buffer of the model
 * ("<node name>.weight", ".bias", ".running_mean", ".running_var") must be in the file with
 * exactly the model's shape; F32 is copied, F64, F16 and BF16 are converted. A batch norm's
 * "num_batches_tracked" is ignored (lamina's momentum is fixed, as PyTorch's default).
 * Everything is checked before anything is copied: on any error the model is unchanged,
 * and the message names the file and the tensor: "w.safetensors: tensor 'fc.weight' is
 * 10x32 in the file, the model's is 10x64", "...: the model's 'layer1.0.bn1.running_var'
 * (16) is missing", "...: tensor 'head.weight' matches nothing in the model", or a value
 * that is NaN or infinite.
 * @param[in]  d    NULL: the defaults.
 * @param[out] rep  may be NULL.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_IO, LAM_ERR_FORMAT (malformed file, missing or
 *         unused tensor, a dtype that is not a float, a non-finite value), LAM_ERR_SHAPE,
 *         LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_model_import(lam_model *m, const char *path, const lam_import_desc *d,
                                    lam_import_report *rep);

#ifdef __cplusplus
}
#endif
#endif
