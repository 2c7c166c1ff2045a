/**
 * @file lamina/data.h
 * @brief Datasets: readers for IDX (MNIST), CSV and NPY files, normalization, validation
 *        splits, per-epoch shuffles and mini-batch gathering; byte-level text and
 *        truncated-BPTT streams for language models (at the end).
 *
 * A ::lam_dataset holds every sample in memory as float32: `x` is (n, sample_numel),
 * row-major and contiguous, where a sample is either an image (C, H, W) or a feature
 * vector (F). Next to the inputs it holds int32 class labels (classification), float32
 * targets (regression), or nothing (unlabeled inputs, e.g. for prediction).
 *
 * Typical epoch loop (errors ignored for brevity):
 * @code
 * lam_dataset *train = NULL;
 * lam_dataset_load_mnist_dir(ctx, "/usr/share/datasets/fashion-mnist", "train", NULL, &train);
 * lam_norm_stats st;
 * lam_norm_stats_compute(ctx, train, &st);      // mean/std per channel
 * lam_dataset_normalize(train, &st);            // x = (x - mean) / std, in place
 * int64_t *perm = lam_alloc(ctx, (size_t)train->n * sizeof *perm);
 * for (uint64_t epoch = 0; epoch < 10; epoch++) {
 *     lam_data_permutation(seed, epoch, train->n, perm);
 *     for (int64_t b = 0; b + batch <= train->n; b += batch) {
 *         lam_dataset_gather(train, perm + b, batch, xbuf, ybuf, NULL);
 *         // forward / backward / step on (xbuf: batch x C x H x W, ybuf: batch labels)
 *     }
 * }
 * @endcode
 *
 * Errors: every reader checks each size in a file header against the bytes the file really
 * holds and against ::LAM_DATA_MAX_BYTES before it allocates anything, so a corrupt or
 * hostile header fails fast instead of asking for gigabytes. The context's message
 * (lam_ctx_errmsg()) is one line that names the file and the problem, with line:column for
 * CSV ("data.csv:7:13: cell "abc" is not a number").
 *
 * Memory: all memory comes from the context's allocator (lam_ctx_config::alloc). A dataset
 * remembers its context, which must outlive it. No call here keeps global state, changes the
 * locale, or prints.
 */
#ifndef LAMINA_DATA_H
#define LAMINA_DATA_H

#include "lamina/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest payload a reader accepts, in bytes: both the data in a file and any array built
 *  from it (8 GiB). Larger headers give ::LAM_ERR_RANGE. */
#define LAM_DATA_MAX_BYTES ((int64_t)1 << 33)
/** Largest number of classes a classification dataset may have. */
#define LAM_DATA_MAX_CLASSES 65536
/** With ::LAM_DATA_AUTO, CSV targets become class labels only when they are all integers in
 *  [0, LAM_DATA_AUTO_MAX_CLASS). */
#define LAM_DATA_AUTO_MAX_CLASS 1000
/** Most dimensions of one sample: (C, H, W). */
#define LAM_DATA_MAX_SAMPLE_DIM 3

/** What a dataset's outputs are. */
typedef enum lam_data_task {
    LAM_DATA_AUTO = 0,      /**< option only: let the reader decide (see each reader) */
    LAM_DATA_CLASSIFY = 1,  /**< int32 class labels in [0, n_classes) */
    LAM_DATA_REGRESS = 2,   /**< float32 targets, n_targets per sample */
    LAM_DATA_UNLABELED = 3, /**< state only: inputs without labels or targets */
} lam_data_task;

/**
 * An in-memory dataset. Transparent so that callers can read the arrays directly, but made,
 * resized and freed only by the functions below: treat every field as read-only, except the
 * values in `x`, `labels` and `targets`, which the caller may change in place.
 */
typedef struct lam_dataset {
    lam_ctx *ctx;          /**< context whose allocator owns the memory; must outlive it */
    int64_t n;             /**< number of samples, >= 1 */
    int sample_ndim;       /**< 1: a feature vector (F); 3: an image (C, H, W) */
    int64_t sample_shape[LAM_DATA_MAX_SAMPLE_DIM]; /**< unused trailing entries are 1 */
    int64_t sample_numel;  /**< product of sample_shape: floats per sample */
    float *x;              /**< (n, sample_numel) inputs, row-major, contiguous */
    lam_data_task task;    /**< CLASSIFY, REGRESS or UNLABELED (never AUTO) */
    int32_t *labels;       /**< (n) labels in [0, n_classes) if task == CLASSIFY, else NULL */
    int64_t n_classes;     /**< classes if task == CLASSIFY, else 0 */
    float *targets;        /**< (n, n_targets) row-major if task == REGRESS, else NULL */
    int64_t n_targets;     /**< targets per sample if task == REGRESS, else 0 */
} lam_dataset;

/** Reader options. Fill with lam_data_options_init(), then change fields; pass NULL to a
 *  reader for the defaults. Fields a reader does not use are ignored. */
typedef struct lam_data_options {
    /** AUTO (default), CLASSIFY or REGRESS. AUTO: IDX labels and integer NPY `y` with one
     *  column are labels; float NPY `y` are targets; CSV targets are labels when there is
     *  one target column and every value is an integer in [0, ::LAM_DATA_AUTO_MAX_CLASS). */
    lam_data_task task;
    /** 0 (default): n_classes = largest label + 1. > 0: every label must be below it (else
     *  ::LAM_ERR_RANGE) and the dataset reports this many classes. */
    int64_t n_classes;
    /** CSV: the target columns, a comma-separated list of header names or 0-based indices
     *  (negative counts from the end: "-1" is the last); a name is looked up first, then the
     *  item is read as an index. NULL (default): the last column. Every other column is an
     *  input feature, in file order. */
    const char *target;
    /** CSV: -1 (default) auto-detect (the first row is a header when one of its cells is not
     *  a number), 0 no header row, 1 the first row is a header. */
    int header;
    /** CSV: the cell separator; 0 (default) picks ',', '\\t' or ';', whichever occurs most
     *  often in the first line (',' on a tie). */
    char delimiter;
    /** IDX and NPY: 1 (default) maps uint8 inputs to [0, 1] by dividing by 255 (images);
     *  0 keeps 0..255. Other types are converted to float32 unchanged. */
    int scale_u8;
    /** lam_dataset_load() on a directory: the MNIST split, "train" (default) or "t10k". */
    const char *split;
} lam_data_options;

/** Fill `opts` with the defaults described at ::lam_data_options. NULL is a no-op. */
LAM_API void lam_data_options_init(lam_data_options *opts);

/* ----------------------------------------------------------------- lifetime */

/**
 * Make a dataset from caller arrays, which are copied.
 * @param[in]  ctx           context whose allocator owns the dataset.
 * @param[in]  n             number of samples, >= 1.
 * @param[in]  sample_ndim   1 (F) or 3 (C, H, W).
 * @param[in]  sample_shape  sample_ndim sizes, each >= 1.
 * @param[in]  x             (n, sample_numel) inputs, or NULL to zero-fill (then write
 *                           ds->x directly).
 * @param[in]  labels        (n) class labels, or NULL. At most one of labels/targets.
 * @param[in]  n_classes     with labels: 0 = largest label + 1, else every label < n_classes.
 * @param[in]  targets       (n, n_targets) regression targets, or NULL.
 * @param[in]  n_targets     with targets: >= 1.
 * @param[out] out           the new dataset, written only on success; free with
 *                           lam_dataset_destroy().
 * @return LAM_OK, LAM_ERR_ARG (NULL pointers, bad ndim/shape, both labels and targets),
 *         LAM_ERR_RANGE (sizes beyond ::LAM_DATA_MAX_BYTES, a label < 0 or >= n_classes or
 *         ::LAM_DATA_MAX_CLASSES), LAM_ERR_FORMAT (NaN/Inf in x or targets), LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_dataset_create(lam_ctx *ctx, int64_t n, int sample_ndim,
                                      const int64_t *sample_shape, const float *x,
                                      const int32_t *labels, int64_t n_classes,
                                      const float *targets, int64_t n_targets,
                                      lam_dataset **out);

/** Free a dataset and its arrays through its context. NULL is a no-op. */
LAM_API void lam_dataset_destroy(lam_dataset *ds);

/* ------------------------------------------------------------------ readers */

/**
 * Read IDX files (the MNIST format), raw or gzip-compressed (detected from the content, not
 * the name).
 *
 * The images file may have 1 to 4 dimensions, taken from its header: (N) and (N, F) give
 * feature vectors (1) and (F); (N, H, W) gives 1-channel images (1, H, W); (N, C, H, W)
 * gives (C, H, W). Element types uint8, int8, int16, int32, float32 and float64 (big-endian,
 * as IDX specifies) are converted to float32; uint8 is divided by 255 unless
 * opts->scale_u8 == 0. The labels file is 1-D (N) of an integer type; its values become
 * class labels (or targets with opts->task == REGRESS).
 *
 * @param[in]  ctx          context for memory and the error message.
 * @param[in]  images_path  the images file.
 * @param[in]  labels_path  the labels file, or NULL for an unlabeled dataset.
 * @param[in]  opts         options (task, n_classes, scale_u8), or NULL for defaults.
 * @param[out] out          the new dataset, written only on success.
 * @return LAM_OK; LAM_ERR_ARG (NULL arguments); LAM_ERR_IO (cannot open or read);
 *         LAM_ERR_FORMAT (bad magic, unknown type, a dimension of 0, header or payload
 *         truncated, the header promises more or fewer bytes than the file holds, corrupt
 *         gzip data, NaN/Inf values, labels not integers); LAM_ERR_RANGE (the dimensions'
 *         product overflows or exceeds ::LAM_DATA_MAX_BYTES, a label negative or too large);
 *         LAM_ERR_SHAPE (the labels file is not 1-D or its count differs from the images');
 *         LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_dataset_load_idx(lam_ctx *ctx, const char *images_path,
                                        const char *labels_path, const lam_data_options *opts,
                                        lam_dataset **out);

/**
 * Read one split of a directory in the MNIST layout: `<split>-images-idx3-ubyte` and
 * `<split>-labels-idx1-ubyte`, each raw or with `.gz` (the raw file wins when both exist;
 * a '.' in place of the '-' before "idx" is also accepted, as some mirrors name them).
 * @param[in] split  "train" or "t10k" ("test" is an alias of "t10k").
 * @return as lam_dataset_load_idx(); also LAM_ERR_ARG (unknown split, path too long) and
 *         LAM_ERR_IO (a file of the pair not found; the message names what was looked for).
 */
LAM_API lam_status lam_dataset_load_mnist_dir(lam_ctx *ctx, const char *dir, const char *split,
                                              const lam_data_options *opts, lam_dataset **out);

/**
 * Read a CSV file (optionally gzip-compressed) of numbers: one sample per row, feature
 * columns become a (F) sample, target columns (opts->target, default the last) become
 * labels or regression targets (see ::lam_data_options::task).
 *
 * Numbers are parsed independently of the process locale ('.' is always the decimal
 * point). Cells may be quoted ("1.5") and padded with spaces; blank lines are skipped; a
 * UTF-8 byte-order mark and CRLF line ends are accepted.
 *
 * @return LAM_OK; LAM_ERR_ARG (NULL arguments; opts->target names no column, repeats one,
 *         takes every column, or gives CLASSIFY more than one); LAM_ERR_IO;
 *         LAM_ERR_FORMAT (empty file or no data rows, a row with a different number of cells
 *         than the first, a cell that is not a number, NaN or Inf, a value beyond float32,
 *         an unterminated quote, a non-integer label; the message gives file:line:column);
 *         LAM_ERR_RANGE (a label negative or too large; file larger than
 *         ::LAM_DATA_MAX_BYTES); LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_dataset_load_csv(lam_ctx *ctx, const char *path,
                                        const lam_data_options *opts, lam_dataset **out);

/**
 * Read NumPy .npy files (format versions 1.0, 2.0 and 3.0; raw or gzip-compressed): `X` of
 * shape (N), (N, F), (N, H, W) or (N, C, H, W) (mapped to samples as in
 * lam_dataset_load_idx()), and optionally `y` of shape (N) or (N, T).
 *
 * Supported dtypes: '<f4', '<f8', '|u1', '|i1', '<i2', '<i4', '<i8' (little-endian; uint8 X
 * is divided by 255 unless opts->scale_u8 == 0). Arrays must be C-ordered. With
 * ::LAM_DATA_AUTO an integer `y` with one column gives class labels, a float `y` gives
 * regression targets.
 *
 * @param[in] x_path  the inputs file.
 * @param[in] y_path  the labels/targets file, or NULL for an unlabeled dataset.
 * @return LAM_OK; LAM_ERR_ARG; LAM_ERR_IO; LAM_ERR_FORMAT (bad magic or version, a header
 *         that is not the dict numpy writes, unsupported dtype or byte order,
 *         fortran_order True, a dimension of 0, more than 4 dimensions, truncated data or
 *         trailing bytes, NaN/Inf, non-integer labels); LAM_ERR_RANGE (sizes overflow or
 *         exceed ::LAM_DATA_MAX_BYTES, labels out of range); LAM_ERR_SHAPE (`y` is not 1-D
 *         or 2-D, its N differs from X's, or CLASSIFY with more than one column);
 *         LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_dataset_load_npy(lam_ctx *ctx, const char *x_path, const char *y_path,
                                        const lam_data_options *opts, lam_dataset **out);

/**
 * Read a dataset named by one string, as the command line accepts it:
 *  - a directory: an MNIST-layout directory, split opts->split (default "train");
 *  - "X.npy,y.npy" or "X.npy": NPY files (a name ending in .npy or .npy.gz);
 *  - anything else ending in .csv, .tsv, .txt (optionally .gz): CSV;
 *  - "images,labels": an IDX pair; a single other file: IDX images without labels.
 * @return as the reader it dispatches to; LAM_ERR_ARG for NULL or an empty spec,
 *         LAM_ERR_IO when the path does not exist.
 */
LAM_API lam_status lam_dataset_load(lam_ctx *ctx, const char *spec, const lam_data_options *opts,
                                    lam_dataset **out);

/* ------------------------------------------------------ subsets and splits */

/**
 * Copy the samples idx[0..n-1] of `ds` (in that order; repeats allowed) into a new dataset
 * with the same sample shape, task and n_classes.
 * @return LAM_OK, LAM_ERR_ARG (NULL, n < 1), LAM_ERR_RANGE (an index outside [0, ds->n)),
 *         LAM_ERR_NOMEM. `*out` is written only on success.
 */
LAM_API lam_status lam_dataset_subset(lam_ctx *ctx, const lam_dataset *ds, const int64_t *idx,
                                      int64_t n, lam_dataset **out);

/**
 * Split `ds` into a training and a validation part. round(fraction * n) samples, chosen by a
 * permutation drawn from `seed` alone (so the split depends only on (seed, ds->n)), go to
 * `val`; the rest go to `train`. Both keep the original order of their samples and the
 * original n_classes. `ds` is unchanged; destroy it if no longer needed.
 * @param[in]  fraction  in (0, 1); both parts must get at least one sample.
 * @return LAM_OK, LAM_ERR_ARG (NULL, fraction out of range or leaving a part empty),
 *         LAM_ERR_NOMEM. `*train` and `*val` are written only on success.
 */
LAM_API lam_status lam_dataset_split(lam_ctx *ctx, const lam_dataset *ds, double fraction,
                                     uint64_t seed, lam_dataset **train, lam_dataset **val);

/* ------------------------------------------------------------ normalization */

/**
 * Per-group input statistics: groups are the C channels of (C, H, W) samples, or the F
 * features of (F) samples. Plain floats so that they can be saved with a model and applied
 * later to other data (compute on the training set, apply to train, validation and test).
 * A caller may fill one with its own arrays to apply saved statistics; such a struct is
 * never freed by the library.
 */
typedef struct lam_norm_stats {
    int64_t n;    /**< number of groups: C or F */
    float *mean;  /**< (n) means */
    float *std;   /**< (n) standard deviations, each > 0 */
} lam_norm_stats;

/**
 * Compute the mean and the population standard deviation (divisor N) of each group of
 * `ds->x`, in double precision, two passes. A constant group (std below 1e-12) gets std 1,
 * so normalizing maps it to 0 instead of dividing by zero.
 * @param[out] out  filled on success; its arrays come from ctx: free with
 *                  lam_norm_stats_free().
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_norm_stats_compute(lam_ctx *ctx, const lam_dataset *ds,
                                          lam_norm_stats *out);

/** Free the arrays of stats made by lam_norm_stats_compute() and clear it. NULL is a no-op. */
LAM_API void lam_norm_stats_free(lam_ctx *ctx, lam_norm_stats *st);

/**
 * Normalize the inputs in place: x = (x - mean[g]) / std[g] for each group g. Targets and
 * labels are unchanged.
 * @return LAM_OK, LAM_ERR_ARG (NULL, a std <= 0 or not finite), LAM_ERR_SHAPE (st->n is not
 *         the dataset's channel or feature count).
 */
LAM_API lam_status lam_dataset_normalize(lam_dataset *ds, const lam_norm_stats *st);

/* ------------------------------------------------------------------ batches */

/**
 * Write a uniformly random permutation of 0..n-1 into `perm`: Fisher-Yates with draws from
 * lam_rng_u64(), so the result depends only on (seed, epoch, n), never on the thread count,
 * call order or platform. Thread-safe.
 * @param[out] perm  caller buffer of n int64.
 * @return LAM_OK, LAM_ERR_ARG (perm NULL with n > 0, n < 0).
 */
LAM_API lam_status lam_data_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *perm);

/**
 * Copy samples idx[0..n-1] into caller buffers (a mini-batch); never allocates.
 * @param[in]  idx          n sample indices in [0, ds->n).
 * @param[out] x_out        (n, sample_numel) floats, or NULL to skip; as a tensor this is
 *                          (n, C, H, W) or (n, F).
 * @param[out] labels_out   (n) labels, or NULL; needs task == CLASSIFY.
 * @param[out] targets_out  (n, n_targets) floats, or NULL; needs task == REGRESS.
 * @return LAM_OK, LAM_ERR_ARG (NULL ds/idx, n < 0, an output the task does not have),
 *         LAM_ERR_RANGE (an index outside [0, ds->n); the buffers may be partly written).
 *         Errors are recorded on ds->ctx. Thread-safe for concurrent calls on one dataset
 *         as long as nothing modifies it and no call fails.
 */
LAM_API lam_status lam_dataset_gather(const lam_dataset *ds, const int64_t *idx, int64_t n,
                                      float *x_out, int32_t *labels_out, float *targets_out);

/* ------------------------------------------------------------- augmentation */

/** Random augmentation of images. Fill with lam_augment_desc_init(). */
typedef struct lam_augment_desc {
    /** Crop: pad each side by crop_pad pixels, then take a window of the image's own size
     *  at a random offset (torchvision's RandomCrop(size, padding=crop_pad)); 0 = none. */
    int64_t crop_pad;
    /** 1: mirror left-right with probability 1/2 (RandomHorizontalFlip()). */
    int flip;
    /** The padding's value per channel (C floats), or NULL for 0. Padding is black in pixel
     *  space; after lam_dataset_normalize() black is -mean/std, which the CLI passes. */
    const float *pad_value;
    uint64_t reserved[6]; /**< must be zero */
} lam_augment_desc;

/** No crop, no flip, pad value 0, reserved words zero. NULL is a no-op. */
LAM_API void lam_augment_desc_init(lam_augment_desc *d);

/**
 * Augment a batch of images: y[i] is x[i] cropped and flipped with the draws of
 * lam_rng_u64(seed, stream "AUGM", first_key + i). The result depends on (seed, key) only,
 * never on the thread count or on earlier calls; a trainer that numbers its samples through
 * the run (step * batch + i) augments a resumed run exactly as an uninterrupted one.
 * Never allocates.
 * @param[in]  sample  the sample shape, (C, H, W) when crop or flip is on.
 * @param[in]  x       (n, C, H, W) inputs.
 * @param[out] y       (n, C, H, W), not overlapping x.
 * @return LAM_OK, LAM_ERR_ARG (NULL pointers, x == y, crop_pad < 0 or beyond the image),
 *         LAM_ERR_SHAPE (crop or flip on samples that are not images).
 */
LAM_API lam_status lam_augment_batch(lam_ctx *ctx, const lam_augment_desc *d,
                                     const lam_shape *sample, int64_t n, const float *x,
                                     float *y, uint64_t seed, uint64_t first_key);

/* ------------------------------------------------------ text (language models) */

/** Where Debian's `fortunes` package installs its text files. */
#define LAM_FORTUNES_DIR "/usr/share/games/fortunes"

/**
 * A text read at byte level, for character language models. The tokens are the text's bytes
 * renumbered densely: the vocabulary is the set of byte values that occur, in byte order
 * (or one given with lam_text_set_vocab, e.g. a checkpoint's). Made and freed only by the
 * functions below; treat every field as read-only.
 */
typedef struct lam_text {
    lam_ctx *ctx;              /**< context whose allocator owns the memory */
    int64_t n;                 /**< tokens (bytes) */
    int32_t *tokens;           /**< (n) ids in [0, vocab) */
    int vocab;                 /**< distinct bytes, 1..256 */
    unsigned char bytes[256];  /**< id -> byte value, for ids below vocab */
} lam_text;

/**
 * Read a file as bytes (UTF-8 or any encoding: no decoding, no decompression). An empty or
 * 1-byte file, or one whose int32 tokens (4 bytes per byte) would exceed
 * ::LAM_DATA_MAX_BYTES (a file above 2 GiB), is refused with a message naming the file.
 * @param[out] out  the new text, written only on success; free with lam_text_destroy().
 * @return LAM_OK, LAM_ERR_ARG (NULL arguments), LAM_ERR_IO (cannot open or read, a
 *         directory or another file that is not regular), LAM_ERR_FORMAT (fewer than 2
 *         bytes), LAM_ERR_RANGE (too large), LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_text_load(lam_ctx *ctx, const char *path, lam_text **out);
/**
 * The fortunes corpus: every regular file of `dir` (NULL: ::LAM_FORTUNES_DIR) except the
 * `.dat` indexes, symbolic links (the `.u8` links repeat the files), hidden files and
 * subdirectories, in byte order of their names (strcmp), concatenated. A missing directory
 * is LAM_ERR_IO with a message naming the `fortunes` package.
 * @return LAM_OK, LAM_ERR_ARG (NULL ctx or out, a path too long), LAM_ERR_IO (no such
 *         directory, no file to read, a file unreadable or changed while being read),
 *         LAM_ERR_FORMAT (fewer than 2 bytes in all), LAM_ERR_RANGE, LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_text_load_fortunes(lam_ctx *ctx, const char *dir, lam_text **out);
/**
 * Renumber the text to the vocabulary bytes[0..vocab) (id i is byte bytes[i]; distinct
 * values). A byte of the text outside it is LAM_ERR_RANGE naming the byte and its position.
 * On failure the text is unchanged.
 * @return LAM_OK, LAM_ERR_ARG (NULL, vocab outside 1..256, a byte given twice),
 *         LAM_ERR_RANGE.
 */
LAM_API lam_status lam_text_set_vocab(lam_text *t, const unsigned char *bytes, int vocab);
/** Free a text; NULL is a no-op. */
LAM_API void lam_text_destroy(lam_text *t);
/**
 * The split by position, 90/5/5: part 0 is training, 1 validation, 2 test. Sets
 * [*begin, *end), a range of token positions: part 0 is [0, c90), part 1 [c90, c95), part 2
 * [c95, n), with c90 = floor(90 n / 100) and c95 = floor(95 n / 100) computed exactly in
 * integers (a part may be empty for tiny texts).
 * @return LAM_OK, LAM_ERR_ARG (NULL, part outside 0..2).
 */
LAM_API lam_status lam_text_split(const lam_text *t, int part, int64_t *begin, int64_t *end);
/**
 * Streams for truncated backpropagation through time, as PyTorch's word_language_model
 * (batchify, get_batch): the tokens [begin, end) are cut into `rows` contiguous streams of
 * L = (end - begin) / rows tokens (the rest dropped), stream r starting at begin + r*L;
 * batch b takes positions [b*T, b*T + T) of every stream as inputs and the token after each
 * as its label, so row r of batch b + 1 continues row r of batch b. Only whole batches are
 * made: lam_lm_batches() = (L - 1) / T of them (0 when a stream is shorter than T + 1
 * tokens, or when begin < 0, end <= begin, rows < 1 or T < 1).
 */
LAM_API int64_t lam_lm_batches(int64_t begin, int64_t end, int64_t rows, int64_t T);
/**
 * Batch b of those streams: x (rows, T) token ids as floats (the input of an `embedding`
 * node) and labels (rows, T) int32, the next tokens. Never allocates.
 * @return LAM_OK, LAM_ERR_ARG (NULL, [begin, end) not inside [0, t->n), or b outside
 *         [0, lam_lm_batches())).
 */
LAM_API lam_status lam_lm_batch(const lam_text *t, int64_t begin, int64_t end, int64_t rows,
                                int64_t T, int64_t b, float *x, int32_t *labels);

#ifdef __cplusplus
}
#endif
#endif
