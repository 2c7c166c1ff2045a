/* The words of the spec language (graph/spec_args.c): numbers, names, and the layer kinds
 * with their arguments. For graph/spec.c. Internal. */
#ifndef LAM_GRAPH_SPEC_INTERNAL_H
#define LAM_GRAPH_SPEC_INTERNAL_H

#include "model_internal.h"

#include <stddef.h>

/* A layer kind as specs name it, and its positional arguments in order (space-separated). */
typedef struct lam_spec_kind {
    const char *name;
    lam_layer_kind kind;
    const char *positional;
} lam_spec_kind;

/* A non-negative integer (or `out`, meaning n_out) from [s, s+len). Locale-free. */
int lam__spec_parse_int(const char *s, size_t len, int64_t n_out, int64_t *v);
/* A decimal fraction like 0.25, 1e-5 or 5, without strtod (locale-independent). */
int lam__spec_parse_real(const char *s, size_t len, float *v);
/* "3" or "3x5" into a pair. */
int lam__spec_parse_pair(const char *s, size_t len, int64_t n_out, int64_t *a, int64_t *b);
/* [s, s+len) is the word w. */
int lam__spec_is_word(const char *s, size_t len, const char *w);
/* A node name: letters, digits, '_' and '.', not starting or ending with '.' nor holding
 * "..", as PyTorch's module paths ("layer1.0.conv1", "0"). */
int lam__spec_valid_name(const char *s, size_t len);
/* The kind a spec word names, or NULL. */
const lam_spec_kind *lam__spec_find_kind(const char *s, size_t len);
/* The k-th word of a space-separated list into buf; 0 if there is none. */
int lam__spec_nth_word(const char *list, int k, char *buf, size_t size);
/* key is a or b (b may be NULL). */
int lam__spec_key_is(const char *key, size_t klen, const char *a, const char *b);
/* rnn, lstm or gru. */
int lam__spec_recurrent(lam_layer_kind k);
/* What a layer's descriptor still lacks after its arguments ("hidden size missing, e.g.
 * lstm:256"), or NULL. */
const char *lam__spec_missing_arg(const lam_layer_desc *d);
/* Apply one key=value of a layer to its descriptor; 0 = unknown key, -1 = bad value. */
int lam__spec_apply_arg(lam_layer_desc *d, const char *key, size_t klen, const char *val,
                        size_t vlen, int64_t n_out);

#endif
