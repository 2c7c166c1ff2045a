/* The words of the spec language: numbers (locale-free), node names, and the layer kinds
 * with the arguments each takes. graph/spec.c puts them together into graphs. */
#include "spec_internal.h"

#include <ctype.h>
#include <string.h>

/* ------------------------------------------------------------- numbers */

/* A non-negative integer (or `out`) from [s, s+len). Locale-free. */
int lam__spec_parse_int(const char *s, size_t len, int64_t n_out, int64_t *v)
{
    /* `vocab` is `out` under the name a language model gives it: its classes are tokens */
    if ((len == 3 && memcmp(s, "out", 3) == 0) || (len == 5 && memcmp(s, "vocab", 5) == 0)) {
        *v = n_out;
        return n_out > 0;
    }
    if (len == 0 || len > 12) {
        return 0;
    }
    int64_t r = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        r = r * 10 + (s[i] - '0');
    }
    *v = r;
    return 1;
}

/* A decimal fraction like 0.25, 1e-5 or 5, without strtod (locale-independent). */
int lam__spec_parse_real(const char *s, size_t len, float *v)
{
    double r = 0.0, scale = 1.0;
    size_t i = 0;
    int digits = 0, seen_dot = 0;
    for (; i < len && (isdigit((unsigned char)s[i]) || s[i] == '.'); i++) {
        if (s[i] == '.') {
            if (seen_dot) {
                return 0;
            }
            seen_dot = 1;
            continue;
        }
        digits++;
        if (seen_dot) {
            scale /= 10.0;
            r += (s[i] - '0') * scale;
        } else {
            r = r * 10.0 + (s[i] - '0');
        }
    }
    if (digits == 0 || digits > 15) {
        return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int sign = 1, e = 0, ed = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) {
            sign = s[i] == '-' ? -1 : 1;
            i++;
        }
        for (; i < len && isdigit((unsigned char)s[i]) && ed < 3; i++, ed++) {
            e = e * 10 + (s[i] - '0');
        }
        if (ed == 0) {
            return 0;
        }
        for (int k = 0; k < e; k++) {
            r = sign > 0 ? r * 10.0 : r / 10.0;
        }
    }
    if (i != len) {
        return 0;
    }
    *v = (float)r;
    return 1;
}

/* "3" or "3x5" into a pair. */
int lam__spec_parse_pair(const char *s, size_t len, int64_t n_out, int64_t *a, int64_t *b)
{
    const char *x = memchr(s, 'x', len);
    if (x == NULL) {
        if (!lam__spec_parse_int(s, len, n_out, a)) {
            return 0;
        }
        *b = *a;
        return 1;
    }
    size_t l1 = (size_t)(x - s);
    return lam__spec_parse_int(s, l1, n_out, a) && lam__spec_parse_int(x + 1, len - l1 - 1, n_out, b);
}

int lam__spec_is_word(const char *s, size_t len, const char *w)
{
    return strlen(w) == len && memcmp(s, w, len) == 0;
}

/* A node name: letters, digits, '_' and '.', not starting or ending with '.' nor holding
 * "..", as PyTorch's module paths ("layer1.0.conv1", "0"). */
int lam__spec_valid_name(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.') {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.') ||
            (s[i] == '.' && s[i + 1] == '.')) {
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- layers */

static const lam_spec_kind kinds[] = {
    {"conv", LAM_LAYER_CONV2D, "out k stride pad"},
    {"linear", LAM_LAYER_LINEAR, "out"},
    {"relu", LAM_LAYER_RELU, ""},
    {"leakyrelu", LAM_LAYER_LEAKY_RELU, "slope"},
    {"sigmoid", LAM_LAYER_SIGMOID, ""},
    {"tanh", LAM_LAYER_TANH, ""},
    {"gelu", LAM_LAYER_GELU, ""},
    {"maxpool", LAM_LAYER_MAXPOOL, "k stride pad"},
    {"avgpool", LAM_LAYER_AVGPOOL, "k stride pad"},
    {"gap", LAM_LAYER_GLOBAL_AVGPOOL, ""},
    {"flatten", LAM_LAYER_FLATTEN, ""},
    {"dropout", LAM_LAYER_DROPOUT, "p"},
    {"batchnorm", LAM_LAYER_BATCHNORM, "eps momentum"},
    {"bn", LAM_LAYER_BATCHNORM, "eps momentum"},
    {"add", LAM_LAYER_ADD, ""},
    {"mul", LAM_LAYER_MUL, ""},
    {"concat", LAM_LAYER_CONCAT, "axis"},
    {"embedding", LAM_LAYER_EMBEDDING, "vocab out"},
    {"rnn", LAM_LAYER_RNN, "hidden"},
    {"lstm", LAM_LAYER_LSTM, "hidden"},
    {"gru", LAM_LAYER_GRU, "hidden"},
    {"layernorm", LAM_LAYER_LAYERNORM, "eps"},
    {"posembed", LAM_LAYER_POSEMBED, "positions"},
    {"attention", LAM_LAYER_ATTENTION, "heads"},
};

const lam_spec_kind *lam__spec_find_kind(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (lam__spec_is_word(s, len, kinds[i].name)) {
            return &kinds[i];
        }
    }
    return NULL;
}

/* The k-th word of a space-separated list into buf; 0 if there is none. */
int lam__spec_nth_word(const char *list, int k, char *buf, size_t size)
{
    const char *q = list;
    for (int i = 0; *q != '\0'; i++) {
        const char *e = strchr(q, ' ');
        size_t len = e != NULL ? (size_t)(e - q) : strlen(q);
        if (i == k) {
            if (len + 1 > size) {
                return 0;
            }
            memcpy(buf, q, len);
            buf[len] = '\0';
            return 1;
        }
        q += len;
        while (*q == ' ') {
            q++;
        }
    }
    return 0;
}

int lam__spec_key_is(const char *key, size_t klen, const char *a, const char *b)
{
    return lam__spec_is_word(key, klen, a) || (b != NULL && lam__spec_is_word(key, klen, b));
}

int lam__spec_recurrent(lam_layer_kind k)
{
    return k == LAM_LAYER_RNN || k == LAM_LAYER_LSTM || k == LAM_LAYER_GRU;
}

/* A 0/1 option into *out: 1, or -1 for a bad value. */
static int flag_arg(const char *val, size_t vlen, int32_t *out)
{
    int64_t v = 0;
    const int ok = lam__spec_parse_int(val, vlen, 0, &v) && v <= 1;
    *out = (int32_t)v;
    return ok ? 1 : -1;
}

/* bias=0|1 */
static int bias_arg(const char *val, size_t vlen, lam_layer_desc *d)
{
    int32_t b = 0;
    const int r = flag_arg(val, vlen, &b);
    d->bias = (int)b;
    return r;
}

/* A probability in [0, 1) into *out (dropout): 1, or -1 for a bad value. */
static int prob_arg(const char *val, size_t vlen, float *out)
{
    return lam__spec_parse_real(val, vlen, out) && *out < 1.0f ? 1 : -1;
}

/* The options of embedding and the recurrent kinds (PyTorch's constructor arguments). */
static int recurrent_arg(lam_layer_desc *d, const char *key, size_t klen, const char *val,
                         size_t vlen, int64_t n_out)
{
    int64_t v = 0;
    if (d->kind == LAM_LAYER_EMBEDDING) {
        if (lam__spec_key_is(key, klen, "vocab", NULL)) {
            return lam__spec_parse_int(val, vlen, n_out, &d->vocab) && d->vocab > 0 ? 1 : -1;
        }
        if (lam__spec_key_is(key, klen, "out", "dim")) {
            return lam__spec_parse_int(val, vlen, n_out, &d->out) && d->out > 0 ? 1 : -1;
        }
        return 0;
    }
    if (lam__spec_key_is(key, klen, "hidden", NULL)) {
        return lam__spec_parse_int(val, vlen, n_out, &d->out) && d->out > 0 ? 1 : -1;
    }
    if (lam__spec_key_is(key, klen, "layers", NULL)) {
        int ok = lam__spec_parse_int(val, vlen, n_out, &v) && v >= 1 && v <= LAM_RNN_MAX_LAYERS;
        d->layers = (int32_t)v;
        return ok ? 1 : -1;
    }
    if (lam__spec_key_is(key, klen, "dropout", NULL)) {
        return prob_arg(val, vlen, &d->alpha);
    }
    if (lam__spec_key_is(key, klen, "bidirectional", NULL)) {
        return flag_arg(val, vlen, &d->bidirectional);
    }
    if (lam__spec_key_is(key, klen, "bias", NULL)) {
        return bias_arg(val, vlen, d);
    }
    if (lam__spec_key_is(key, klen, "out", NULL)) {
        d->last_only = lam__spec_is_word(val, vlen, "last");
        return d->last_only || lam__spec_is_word(val, vlen, "seq") ? 1 : -1;
    }
    if (d->kind == LAM_LAYER_RNN && lam__spec_key_is(key, klen, "nonlinearity", "act")) {
        d->relu = lam__spec_is_word(val, vlen, "relu");
        return d->relu || lam__spec_is_word(val, vlen, "tanh") ? 1 : -1;
    }
    return 0;
}

/* The options of the transformer's kinds, and init std= of the kinds with weights. */
static int transformer_arg(lam_layer_desc *d, const char *key, size_t klen, const char *val,
                           size_t vlen, int64_t n_out)
{
    const lam_layer_kind k = d->kind;
    int64_t v = 0;
    if ((k == LAM_LAYER_LINEAR || k == LAM_LAYER_EMBEDDING || k == LAM_LAYER_POSEMBED ||
         k == LAM_LAYER_ATTENTION) &&
        lam__spec_key_is(key, klen, "std", NULL)) {
        return lam__spec_parse_real(val, vlen, &d->init_std) && d->init_std > 0.0f ? 1 : -1;
    }
    if (k == LAM_LAYER_GELU && lam__spec_key_is(key, klen, "approx", "approximate")) {
        const int tanh_form = lam__spec_is_word(val, vlen, "tanh");
        d->kind = tanh_form ? LAM_LAYER_GELU_TANH : LAM_LAYER_GELU;
        return tanh_form || lam__spec_is_word(val, vlen, "none") ? 1 : -1;
    }
    if (k == LAM_LAYER_LAYERNORM && lam__spec_key_is(key, klen, "eps", NULL)) {
        return lam__spec_parse_real(val, vlen, &d->alpha) && d->alpha > 0.0f ? 1 : -1;
    }
    if (k == LAM_LAYER_POSEMBED && lam__spec_key_is(key, klen, "positions", "out")) {
        return lam__spec_parse_int(val, vlen, n_out, &d->out) && d->out > 0 ? 1 : -1;
    }
    if (k != LAM_LAYER_ATTENTION) {
        return 0;
    }
    if (lam__spec_key_is(key, klen, "heads", NULL)) {
        int ok = lam__spec_parse_int(val, vlen, n_out, &v) && v >= 1 && v <= 4096;
        d->heads = (int32_t)v;
        return ok ? 1 : -1;
    }
    if (lam__spec_key_is(key, klen, "causal", NULL)) {
        return flag_arg(val, vlen, &d->causal);
    }
    if (lam__spec_key_is(key, klen, "bias", NULL)) {
        return bias_arg(val, vlen, d);
    }
    if (lam__spec_key_is(key, klen, "dropout", NULL)) {
        return prob_arg(val, vlen, &d->alpha);
    }
    if (lam__spec_key_is(key, klen, "std_out", NULL)) {
        return lam__spec_parse_real(val, vlen, &d->init_std_out) && d->init_std_out > 0.0f ? 1
                                                                                          : -1;
    }
    return 0;
}

/* Apply one key=value of a layer to its descriptor; 0 = unknown key, -1 = bad value. */
int lam__spec_apply_arg(lam_layer_desc *d, const char *key, size_t klen, const char *val,
                     size_t vlen, int64_t n_out)
{
    lam_layer_kind k = d->kind;
    const int t = transformer_arg(d, key, klen, val, vlen, n_out);
    if (t != 0) {
        return t;
    }
    int conv = k == LAM_LAYER_CONV2D, pool = k == LAM_LAYER_MAXPOOL || k == LAM_LAYER_AVGPOOL;
    int ok;
    if ((conv || k == LAM_LAYER_LINEAR) && lam__spec_key_is(key, klen, "out", NULL)) {
        ok = lam__spec_parse_int(val, vlen, n_out, &d->out) && d->out > 0;
    } else if ((conv || pool) && lam__spec_key_is(key, klen, "k", "kernel")) {
        ok = lam__spec_parse_pair(val, vlen, n_out, &d->kh, &d->kw) && d->kh > 0 && d->kw > 0;
    } else if ((conv || pool) && lam__spec_key_is(key, klen, "stride", "s")) {
        ok = lam__spec_parse_pair(val, vlen, n_out, &d->sh, &d->sw) && d->sh > 0 && d->sw > 0;
    } else if ((conv || pool) && lam__spec_key_is(key, klen, "pad", "p")) {
        ok = lam__spec_parse_pair(val, vlen, n_out, &d->ph, &d->pw);
    } else if (conv && lam__spec_key_is(key, klen, "dil", "dilation")) {
        ok = lam__spec_parse_pair(val, vlen, n_out, &d->dh, &d->dw) && d->dh > 0 && d->dw > 0;
    } else if (conv && lam__spec_key_is(key, klen, "groups", "g")) {
        ok = lam__spec_parse_int(val, vlen, n_out, &d->groups) && d->groups > 0;
    } else if ((conv || k == LAM_LAYER_LINEAR) && lam__spec_key_is(key, klen, "bias", NULL)) {
        int64_t b = 0;
        ok = lam__spec_parse_int(val, vlen, n_out, &b) && b <= 1;
        d->bias = (int)b;
    } else if (k == LAM_LAYER_LEAKY_RELU && lam__spec_key_is(key, klen, "slope", NULL)) {
        ok = lam__spec_parse_real(val, vlen, &d->alpha);
    } else if (k == LAM_LAYER_DROPOUT && lam__spec_key_is(key, klen, "p", NULL)) {
        ok = lam__spec_parse_real(val, vlen, &d->alpha) && d->alpha < 1.0f;
    } else if (k == LAM_LAYER_BATCHNORM && lam__spec_key_is(key, klen, "eps", NULL)) {
        ok = lam__spec_parse_real(val, vlen, &d->alpha) && d->alpha > 0.0f;
    } else if (k == LAM_LAYER_BATCHNORM && lam__spec_key_is(key, klen, "momentum", NULL)) {
        ok = lam__spec_parse_real(val, vlen, &d->momentum) && d->momentum <= 1.0f;
    } else if (lam__spec_recurrent(k) || k == LAM_LAYER_EMBEDDING) {
        return recurrent_arg(d, key, klen, val, vlen, n_out);
    } else if (k == LAM_LAYER_CONCAT && lam__spec_key_is(key, klen, "axis", NULL)) {
        int64_t a = 0;
        ok = lam__spec_parse_int(val, vlen, n_out, &a) && a < LAM_MAX_SAMPLE_DIM;
        d->axis = (int)a;
    } else {
        return 0;
    }
    return ok ? 1 : -1;
}


const char *lam__spec_missing_arg(const lam_layer_desc *d)
{
    const lam_layer_kind k = d->kind;
    const int conv = k == LAM_LAYER_CONV2D;
    if ((conv || k == LAM_LAYER_LINEAR) && d->out < 1) {
        return "output size missing, e.g. conv:32,3 linear:10";
    }
    if ((conv || k == LAM_LAYER_MAXPOOL || k == LAM_LAYER_AVGPOOL) && d->kh < 1) {
        return "kernel size missing, e.g. conv:32,3 maxpool:2";
    }
    if (k == LAM_LAYER_EMBEDDING && (d->vocab < 1 || d->out < 1)) {
        return "vocabulary and width missing, e.g. embedding:vocab,64";
    }
    if (k == LAM_LAYER_POSEMBED && d->out < 1) {
        return "number of positions missing, e.g. posembed:64";
    }
    if (lam__spec_recurrent(k) && d->out < 1) {
        return "hidden size missing, e.g. lstm:256";
    }
    return NULL;
}
