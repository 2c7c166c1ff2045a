/* The model spec language: a graph of layers, written as text.
 *
 *   conv:32,3,pad=1 relu maxpool:2 flatten linear:out        a chain: each node takes the
 *                                                            previous one's output
 *   conv:16,3,pad=1,bias=0,name=conv1                        name= labels a node and names
 *                                                            its tensors (conv1.weight)
 *   add(conv1, .)  concat(a, b):axis=0                       inputs in parentheses: a name,
 *                                                            `.` (the previous node), `in`
 *                                                            (the model's or block's input)
 *                                                            or -N (the Nth node back)
 *   def basic(c) { conv:$c,3,pad=1 bn relu add(., in) }      a block, defined once
 *   basic*3:16,name=layer1                                   three instances, named
 *                                                            layer1.0, layer1.1, layer1.2
 *
 * A node is KIND[*COUNT][(INPUTS)][:ARG,ARG,...] with no spaces outside the parentheses; an
 * ARG is a positional value or key=value; `#` starts a comment to the end of the line; `;`
 * separates like a space; the word `out` stands for the model's output size. Inside a block,
 * $PARAM is replaced by the argument's text, names are prefixed with the instance's name
 * (conv1 in instance layer1.0 is layer1.0.conv1), and a name is looked up in the instance
 * first, then outside it. A node can only name nodes before it, so every spec is a DAG
 * already in topological order. The README documents every layer and key; this parser is
 * the one source of truth for them. */
#define _POSIX_C_SOURCE 200809L
#include "model_internal.h"
#include "spec_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_BLOCKS 32
#define MAX_PARAMS 8
#define MAX_DEPTH 8
#define PARAM_LEN 24

typedef struct spec_block {
    char name[32];
    int n_params;
    char params[MAX_PARAMS][PARAM_LEN];
    const char *body; /* inside the spec text, which outlives the parse */
    size_t len;
    int instances;    /* unnamed instances so far, for their default names */
} spec_block;

/* A block instance's name and output, so that `add(layer1.0, .)` can name it. */
typedef struct spec_inst {
    char name[LAM_SPEC_NAME_MAX];
    int node;
} spec_inst;

typedef struct scope {
    const struct scope *up;
    char prefix[LAM_SPEC_NAME_MAX]; /* "" at the top level */
    const char *block;              /* NULL at the top level */
    int input;                      /* the node `in` means (-1: the model's input) */
    int prev;                       /* the node `.` means */
} scope;

typedef struct parser {
    lam_ctx *ctx;
    int64_t n_out;
    lam_spec_node *nodes;
    int count, cap;
    spec_block blocks[MAX_BLOCKS];
    int n_blocks;
    spec_inst *inst;
    int n_inst;
    int depth;
} parser;

typedef struct spec_tok {
    const char *s;
    size_t len;
} spec_tok;

static lam_status tok_error(parser *p, const scope *sc, const spec_tok *t, const char *fmt,
                            ...) LAM_PRINTF(4, 5);

static lam_status tok_error(parser *p, const scope *sc, const spec_tok *t, const char *fmt, ...)
{
    char why[200], where[LAM_SPEC_NAME_MAX + 48] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (sc != NULL && sc->block != NULL) {
        snprintf(where, sizeof where, " in block %s (%s)", sc->block, sc->prefix);
    }
    return lam__error(p->ctx, LAM_ERR_FORMAT, "model spec: node %d '%.*s'%s: %s", p->count,
                      (int)(t->len > 60 ? 60 : t->len), t->s, where, why);
}

/* ------------------------------------------------------------ references */

static int find_node(const parser *p, const char *name)
{
    for (int i = p->count - 1; i >= 0; i--) {
        if (strcmp(p->nodes[i].name, name) == 0) {
            return i;
        }
    }
    for (int i = p->n_inst - 1; i >= 0; i--) {
        if (strcmp(p->inst[i].name, name) == 0) {
            return p->inst[i].node;
        }
    }
    return -2;
}

/* "prefix.local" (or local at the top level) into out; 0 when too long. */
static int full_name(const char *prefix, const char *local, size_t llen, char *out)
{
    int w = prefix[0] != '\0'
                ? snprintf(out, LAM_SPEC_NAME_MAX, "%s.%.*s", prefix, (int)llen, local)
                : snprintf(out, LAM_SPEC_NAME_MAX, "%.*s", (int)llen, local);
    return w > 0 && w < LAM_SPEC_NAME_MAX;
}

/* Resolve one input reference to a node index (-1 the model's input). */
static lam_status resolve(parser *p, const scope *sc, const spec_tok *t, const char *r,
                          size_t len, int *node)
{
    if (lam__spec_is_word(r, len, ".")) {
        *node = sc->prev;
        return LAM_OK;
    }
    if (lam__spec_is_word(r, len, "in")) {
        *node = sc->input;
        return LAM_OK;
    }
    if (len > 1 && r[0] == '-') {
        int64_t back = 0;
        if (!lam__spec_parse_int(r + 1, len - 1, 0, &back) || back < 1 || back > p->count) {
            return tok_error(p, sc, t, "input '%.*s' does not name an earlier node (there "
                             "are %d before it)", (int)len, r, p->count);
        }
        *node = p->count - (int)back;
        return LAM_OK;
    }
    if (!lam__spec_valid_name(r, len)) {
        return tok_error(p, sc, t, "input '%.*s' is not a name, '.', 'in' or -N", (int)len, r);
    }
    char full[LAM_SPEC_NAME_MAX];
    for (const scope *s = sc; s != NULL; s = s->up) {
        if (full_name(s->prefix, r, len, full) && (*node = find_node(p, full)) >= -1) {
            return LAM_OK;
        }
    }
    return tok_error(p, sc, t, "input '%.*s' is not an earlier node: a node can only take "
                     "inputs from nodes before it (names must be defined before use, so a "
                     "graph cannot have a cycle)", (int)len, r);
}

/* ------------------------------------------------------------------ items */

static lam_status parse_seq(parser *p, const char *s, size_t len, scope *sc, int top);

typedef struct item {
    spec_tok tok;
    const char *word;
    size_t wlen;
    int64_t count;            /* *COUNT, 1 when absent */
    const char *refs;         /* inside the parentheses, NULL when absent */
    size_t rlen;
    const char *args;         /* after the colon, NULL when absent */
    size_t alen;
} item;

static lam_status split_item(parser *p, const scope *sc, const spec_tok *t, item *it)
{
    memset(it, 0, sizeof *it);
    it->tok = *t;
    it->count = 1;
    const char *s = t->s, *end = t->s + t->len;
    const char *q = s;
    while (q < end && (isalnum((unsigned char)*q) || *q == '_' || *q == '-')) {
        q++;
    }
    it->word = s;
    it->wlen = (size_t)(q - s);
    if (it->wlen == 0) {
        return tok_error(p, sc, t, "expected a layer or block name");
    }
    if (q < end && *q == '*') {
        const char *c0 = ++q;
        while (q < end && isdigit((unsigned char)*q)) {
            q++;
        }
        if (!lam__spec_parse_int(c0, (size_t)(q - c0), 0, &it->count) || it->count < 1 ||
            it->count > LAM_SPEC_MAX_NODES) {
            return tok_error(p, sc, t, "bad repeat count after '*'");
        }
    }
    if (q < end && *q == '(') {
        const char *close = memchr(q, ')', (size_t)(end - q));
        if (close == NULL) {
            return tok_error(p, sc, t, "unclosed '('");
        }
        it->refs = q + 1;
        it->rlen = (size_t)(close - q - 1);
        q = close + 1;
    }
    /* "relu,name=r" reads like "relu:name=r": a comma after the kind starts the arguments */
    if (q < end && (*q == ':' || *q == ',')) {
        it->args = q + 1;
        it->alen = (size_t)(end - q - 1);
        q = end;
    }
    if (q != end) {
        return tok_error(p, sc, t, "unexpected '%c' (a node is KIND[*N][(INPUTS)][:ARGS])", *q);
    }
    return LAM_OK;
}

/* Call fn on each comma-separated entry of [s, s+len), spaces trimmed. */
typedef lam_status (*entry_fn)(parser *p, const scope *sc, const item *it, void *ctx,
                               const char *e, size_t elen);

static lam_status each_entry(parser *p, const scope *sc, const item *it, const char *s,
                             size_t len, entry_fn fn, void *ctx)
{
    const char *q = s, *end = s + len;
    while (q <= end) {
        const char *comma = memchr(q, ',', (size_t)(end - q));
        const char *e = comma != NULL ? comma : end;
        const char *a = q, *b = e;
        while (a < b && isspace((unsigned char)*a)) {
            a++;
        }
        while (b > a && isspace((unsigned char)b[-1])) {
            b--;
        }
        if (a == b) {
            return tok_error(p, sc, &it->tok, "empty entry in a list");
        }
        lam_status st = fn(p, sc, it, ctx, a, (size_t)(b - a));
        if (st != LAM_OK) {
            return st;
        }
        if (comma == NULL) {
            break;
        }
        q = comma + 1;
    }
    return LAM_OK;
}

typedef struct refs_acc {
    int n;
    int in[LAM_MAX_INPUTS];
} refs_acc;

static lam_status add_ref(parser *p, const scope *sc, const item *it, void *vacc, const char *e,
                          size_t elen)
{
    refs_acc *acc = vacc;
    if (acc->n == LAM_MAX_INPUTS) {
        return tok_error(p, sc, &it->tok, "more than %d inputs", LAM_MAX_INPUTS);
    }
    return resolve(p, sc, &it->tok, e, elen, &acc->in[acc->n++]);
}

/* Arguments of a layer or a block instance, gathered before they are applied. */
typedef struct args_acc {
    const lam_spec_kind *kind;   /* NULL for a block */
    const spec_block *block;
    lam_layer_desc desc;
    const char *name;         /* name= value */
    size_t name_len;
    int64_t index;            /* index= (repeats start here) */
    int tie;                  /* tie= node, -1 none */
    const char *val[MAX_PARAMS];
    size_t vlen[MAX_PARAMS];
    int pos;
} args_acc;

static lam_status add_arg(parser *p, const scope *sc, const item *it, void *vacc, const char *e,
                          size_t elen)
{
    args_acc *a = vacc;
    const char *eq = memchr(e, '=', elen);
    const char *key, *val = eq != NULL ? eq + 1 : e;
    size_t klen, vlen = eq != NULL ? elen - (size_t)(eq - e) - 1 : elen;
    char pkey[PARAM_LEN];
    if (eq != NULL) {
        key = e;
        klen = (size_t)(eq - e);
    } else {
        int ok = a->kind != NULL ? lam__spec_nth_word(a->kind->positional, a->pos, pkey, sizeof pkey)
                                 : a->pos < a->block->n_params;
        if (!ok) {
            return tok_error(p, sc, &it->tok, "too many positional arguments");
        }
        if (a->kind == NULL) {
            snprintf(pkey, sizeof pkey, "%s", a->block->params[a->pos]);
        }
        a->pos++;
        key = pkey;
        klen = strlen(pkey);
    }
    if (lam__spec_key_is(key, klen, "name", NULL)) {
        if (!lam__spec_valid_name(val, vlen) || vlen >= LAM_SPEC_NAME_MAX - 16) {
            return tok_error(p, sc, &it->tok, "bad name '%.*s' (letters, digits, '_' and '.', "
                             "at most %d characters)", (int)(vlen > 40 ? 40 : vlen), val,
                             LAM_SPEC_NAME_MAX - 17);
        }
        a->name = val;
        a->name_len = vlen;
        return LAM_OK;
    }
    if (lam__spec_key_is(key, klen, "tie", NULL) && a->kind != NULL &&
        (a->kind->kind == LAM_LAYER_LINEAR || a->kind->kind == LAM_LAYER_EMBEDDING)) {
        lam_status st = resolve(p, sc, &it->tok, val, vlen, &a->tie);
        if (st == LAM_OK && a->tie < 0) {
            return tok_error(p, sc, &it->tok, "tie=%.*s: the model's input has no weight",
                             (int)(vlen > 30 ? 30 : vlen), val);
        }
        return st;
    }
    if (lam__spec_key_is(key, klen, "index", NULL)) {
        if (!lam__spec_parse_int(val, vlen, 0, &a->index) || a->index > 1000000) {
            return tok_error(p, sc, &it->tok, "bad index '%.*s'", (int)(vlen > 30 ? 30 : vlen),
                             val);
        }
        return LAM_OK;
    }
    if (a->kind == NULL) {
        for (int i = 0; i < a->block->n_params; i++) {
            if (lam__spec_is_word(key, klen, a->block->params[i])) {
                a->val[i] = val;
                a->vlen[i] = vlen;
                return LAM_OK;
            }
        }
        return tok_error(p, sc, &it->tok, "block %s has no parameter '%.*s'", a->block->name,
                         (int)(klen > 30 ? 30 : klen), key);
    }
    int r = lam__spec_apply_arg(&a->desc, key, klen, val, vlen, p->n_out);
    if (r == 0) {
        return tok_error(p, sc, &it->tok, "unknown option '%.*s'", (int)(klen > 40 ? 40 : klen),
                         key);
    }
    if (r < 0) {
        return tok_error(p, sc, &it->tok, "bad value '%.*s' for %.*s",
                         (int)(vlen > 30 ? 30 : vlen), val, (int)(klen > 30 ? 30 : klen), key);
    }
    return LAM_OK;
}

/* Room for one more node and one more block instance. */
static lam_status grow(parser *p, const scope *sc, const item *it)
{
    if (p->count < p->cap && p->n_inst < p->cap) {
        return LAM_OK;
    }
    if (p->cap == LAM_SPEC_MAX_NODES) {
        return tok_error(p, sc, &it->tok, "more than %d nodes", LAM_SPEC_MAX_NODES);
    }
    int cap = p->cap * 2 < LAM_SPEC_MAX_NODES ? p->cap * 2 : LAM_SPEC_MAX_NODES;
    lam_spec_node *nodes = lam_alloc(p->ctx, (size_t)cap * sizeof *nodes);
    spec_inst *inst = lam_alloc(p->ctx, (size_t)cap * sizeof *inst);
    if (nodes == NULL || inst == NULL) {
        lam_free(p->ctx, nodes);
        lam_free(p->ctx, inst);
        return LAM_ERR_NOMEM;
    }
    memcpy(nodes, p->nodes, (size_t)p->count * sizeof *nodes);
    memcpy(inst, p->inst, (size_t)p->n_inst * sizeof *inst);
    lam_free(p->ctx, p->nodes);
    lam_free(p->ctx, p->inst);
    p->nodes = nodes;
    p->inst = inst;
    p->cap = cap;
    return LAM_OK;
}

/* Append a node; its name (if any) must be new. */
static lam_status push_node(parser *p, const scope *sc, const item *it, const lam_layer_desc *d,
                            const char *name, const refs_acc *in, int tie)
{
    lam_status st = grow(p, sc, it);
    if (st != LAM_OK) {
        return st;
    }
    if (name[0] != '\0' && find_node(p, name) >= -1) {
        return tok_error(p, sc, &it->tok, "the name '%s' is used twice", name);
    }
    lam_spec_node *nd = &p->nodes[p->count];
    memset(nd, 0, sizeof *nd);
    nd->desc = *d;
    snprintf(nd->name, sizeof nd->name, "%s", name);
    nd->n_in = in->n;
    memcpy(nd->in, in->in, sizeof nd->in);
    nd->tie = tie;
    p->count++;
    return LAM_OK;
}

/* The body of a block with every $PARAM replaced by its argument's text (owned by the
 * context's allocator; the caller frees it). */
static lam_status substitute(parser *p, const scope *sc, const item *it, const spec_block *b,
                             const args_acc *a, char **out, size_t *out_len)
{
    size_t need = 0;
    for (int pass = 0; pass < 2; pass++) {
        char *dst = pass == 1 ? *out : NULL;
        size_t n = 0;
        for (size_t i = 0; i < b->len;) {
            if (b->body[i] != '$') {
                if (dst != NULL) {
                    dst[n] = b->body[i];
                }
                n++;
                i++;
                continue;
            }
            size_t j = i + 1;
            while (j < b->len && (isalnum((unsigned char)b->body[j]) || b->body[j] == '_')) {
                j++;
            }
            int which = -1;
            for (int k = 0; k < b->n_params; k++) {
                if (lam__spec_is_word(b->body + i + 1, j - i - 1, b->params[k])) {
                    which = k;
                }
            }
            if (which < 0) {
                return tok_error(p, sc, &it->tok, "block %s uses $%.*s, which is not one of its "
                                 "parameters", b->name, (int)(j - i - 1 > 30 ? 30 : j - i - 1),
                                 b->body + i + 1);
            }
            if (dst != NULL) {
                memcpy(dst + n, a->val[which], a->vlen[which]);
            }
            n += a->vlen[which];
            i = j;
        }
        if (n > LAM_SPEC_MAX_LEN) {
            return tok_error(p, sc, &it->tok, "block %s expands to more than %d bytes", b->name,
                             LAM_SPEC_MAX_LEN);
        }
        need = n;
        if (pass == 0) {
            *out = lam_alloc(p->ctx, need + 1);
            if (*out == NULL) {
                return LAM_ERR_NOMEM;
            }
        }
    }
    (*out)[need] = '\0';
    *out_len = need;
    return LAM_OK;
}

static lam_status expand_block(parser *p, scope *sc, const item *it, spec_block *b,
                               const args_acc *a, const char *name, int input)
{
    if (p->depth == MAX_DEPTH) {
        return tok_error(p, sc, &it->tok, "blocks nested more than %d deep (does block %s use "
                         "itself?)", MAX_DEPTH, b->name);
    }
    scope inner = {sc, "", b->name, input, input};
    if (name[0] != '\0') {
        snprintf(inner.prefix, sizeof inner.prefix, "%s", name);
    } else {
        snprintf(inner.prefix, sizeof inner.prefix, "%s#%d", b->name, b->instances++);
    }
    if (find_node(p, inner.prefix) >= -1) {
        return tok_error(p, sc, &it->tok, "the name '%s' is used twice", inner.prefix);
    }
    char *body = NULL;
    size_t len = 0;
    lam_status st = substitute(p, sc, it, b, a, &body, &len);
    if (st != LAM_OK) {
        return st;
    }
    const int before = p->count;
    p->depth++;
    st = parse_seq(p, body, len, &inner, 0);
    p->depth--;
    lam_free(p->ctx, body);
    if (st != LAM_OK) {
        return st;
    }
    if (p->count == before) {
        return tok_error(p, sc, &it->tok, "block %s has no layers", b->name);
    }
    if ((st = grow(p, sc, it)) != LAM_OK) {
        return st;
    }
    snprintf(p->inst[p->n_inst].name, LAM_SPEC_NAME_MAX, "%s", inner.prefix);
    p->inst[p->n_inst++].node = p->count - 1;
    sc->prev = p->count - 1;
    return LAM_OK;
}

static spec_block *find_block(parser *p, const char *s, size_t len)
{
    for (int i = 0; i < p->n_blocks; i++) {
        if (lam__spec_is_word(s, len, p->blocks[i].name)) {
            return &p->blocks[i];
        }
    }
    return NULL;
}

static lam_status parse_item(parser *p, scope *sc, const spec_tok *t)
{
    if (sc->block == NULL && memchr(t->s, '$', t->len) != NULL) {
        return tok_error(p, sc, t, "'$' outside a block's body");
    }
    item it;
    lam_status st = split_item(p, sc, t, &it);
    if (st != LAM_OK) {
        return st;
    }
    args_acc a;
    memset(&a, 0, sizeof a);
    a.tie = -1;
    a.kind = lam__spec_find_kind(it.word, it.wlen);
    spec_block *blk = a.kind == NULL ? find_block(p, it.word, it.wlen) : NULL;
    if (a.kind == NULL && blk == NULL) {
        return tok_error(p, sc, t,
                         "unknown layer or block '%.*s' (layers: conv, linear, relu, "
                         "leakyrelu, sigmoid, tanh, gelu, maxpool, avgpool, gap, flatten, "
                         "dropout, batchnorm, add, mul, concat, embedding, rnn, lstm, gru, "
                         "layernorm, posembed, attention)",
                         (int)(it.wlen > 30 ? 30 : it.wlen), it.word);
    }
    a.block = blk;
    if (a.kind != NULL) {
        lam_layer_desc_init(&a.desc, a.kind->kind);
    }
    if (it.args != NULL && (st = each_entry(p, sc, &it, it.args, it.alen, add_arg, &a)) != LAM_OK) {
        return st;
    }
    refs_acc in = {1, {sc->prev}};
    if (it.refs != NULL) {
        in.n = 0;
        if ((st = each_entry(p, sc, &it, it.refs, it.rlen, add_ref, &in)) != LAM_OK) {
            return st;
        }
    }
    if (a.kind != NULL) {
        const lam_kind *k = lam__kind_of(a.kind->kind);
        const char *missing = lam__spec_missing_arg(&a.desc);
        if (missing != NULL) {
            return tok_error(p, sc, t, "%s", missing);
        }
        if (in.n < k->min_in || in.n > k->max_in) {
            return tok_error(p, sc, t, "%s takes %d%s input%s, not %d%s", a.kind->name,
                             k->min_in, k->max_in > k->min_in ? " or more" : "",
                             k->max_in > 1 ? "s" : "", in.n,
                             it.refs == NULL ? " (name them: add(a, b))" : "");
        }
    } else {
        for (int i = 0; i < blk->n_params; i++) {
            if (a.val[i] == NULL) {
                return tok_error(p, sc, t, "block %s needs its parameter %s", blk->name,
                                 blk->params[i]);
            }
        }
        if (in.n != 1) {
            return tok_error(p, sc, t, "a block takes one input, not %d", in.n);
        }
    }
    char base[LAM_SPEC_NAME_MAX] = "", name[LAM_SPEC_NAME_MAX] = "";
    if (a.name != NULL && !full_name(sc->prefix, a.name, a.name_len, base)) {
        return tok_error(p, sc, t, "name too long");
    }
    for (int64_t r = 0; r < it.count; r++) {
        if (base[0] != '\0' && it.count > 1) {
            int w = snprintf(name, sizeof name, "%s.%lld", base, (long long)(a.index + r));
            if (w <= 0 || w >= (int)sizeof name) {
                return tok_error(p, sc, t, "name too long");
            }
        } else {
            snprintf(name, sizeof name, "%s", base);
        }
        if (r > 0) {
            in = (refs_acc){1, {sc->prev}};
        }
        if (a.kind != NULL) {
            st = push_node(p, sc, &it, &a.desc, name, &in, a.tie);
            sc->prev = p->count - 1;
        } else {
            st = expand_block(p, sc, &it, blk, &a, name, in.in[0]);
        }
        if (st != LAM_OK) {
            return st;
        }
    }
    return LAM_OK;
}

/* def NAME(P, ...) { BODY } starting at s[*i]; *i ends after the '}'. */
static lam_status parse_def(parser *p, scope *sc, const char *s, size_t len, size_t *i)
{
    size_t j = *i + 3;
    while (j < len && isspace((unsigned char)s[j])) {
        j++;
    }
    size_t n0 = j;
    while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '_' || s[j] == '-')) {
        j++;
    }
    spec_tok t = {s + *i, (j < len ? j : len) - *i};
    if (p->n_blocks == MAX_BLOCKS) {
        return tok_error(p, sc, &t, "more than %d blocks", MAX_BLOCKS);
    }
    spec_block *b = &p->blocks[p->n_blocks];
    memset(b, 0, sizeof *b);
    if (j == n0 || j - n0 >= sizeof b->name || lam__spec_find_kind(s + n0, j - n0) != NULL ||
        find_block(p, s + n0, j - n0) != NULL) {
        return tok_error(p, sc, &t, "def needs a new block name (not a layer's or an earlier "
                         "block's)");
    }
    memcpy(b->name, s + n0, j - n0);
    while (j < len && isspace((unsigned char)s[j])) {
        j++;
    }
    if (j < len && s[j] == '(') {
        const char *close = memchr(s + j, ')', len - j);
        if (close == NULL) {
            return tok_error(p, sc, &t, "unclosed '(' after def %s", b->name);
        }
        for (size_t k = j + 1; k < (size_t)(close - s);) {
            while (k < (size_t)(close - s) && (isspace((unsigned char)s[k]) || s[k] == ',')) {
                k++;
            }
            size_t k0 = k;
            while (k < (size_t)(close - s) && (isalnum((unsigned char)s[k]) || s[k] == '_')) {
                k++;
            }
            if (k == k0) {
                if (k < (size_t)(close - s)) {
                    return tok_error(p, sc, &t, "bad parameter list of block %s", b->name);
                }
                break;
            }
            if (b->n_params == MAX_PARAMS || k - k0 >= PARAM_LEN ||
                lam__spec_is_word(s + k0, k - k0, "name") || lam__spec_is_word(s + k0, k - k0, "index")) {
                return tok_error(p, sc, &t, "bad parameter list of block %s (at most %d, not "
                                 "'name' or 'index')", b->name, MAX_PARAMS);
            }
            memcpy(b->params[b->n_params++], s + k0, k - k0);
        }
        j = (size_t)(close - s) + 1;
        while (j < len && isspace((unsigned char)s[j])) {
            j++;
        }
    }
    if (j >= len || s[j] != '{') {
        return tok_error(p, sc, &t, "def %s needs a body in { }", b->name);
    }
    size_t k = j + 1;
    for (; k < len && s[k] != '}'; k++) {
        if (s[k] == '#') {
            while (k < len && s[k] != '\n') {
                k++;
            }
            if (k == len) {
                break;
            }
        } else if (s[k] == '{') {
            return tok_error(p, sc, &t, "'{' inside the body of block %s (blocks do not nest; "
                             "define them one after another)", b->name);
        }
    }
    if (k >= len) {
        return tok_error(p, sc, &t, "the body of block %s has no closing '}'", b->name);
    }
    b->body = s + j + 1;
    b->len = k - j - 1;
    p->n_blocks++;
    *i = k + 1;
    return LAM_OK;
}

static int starts_def(const char *s, size_t len, size_t i)
{
    return i + 3 < len && memcmp(s + i, "def", 3) == 0 && isspace((unsigned char)s[i + 3]) &&
           (i == 0 || isspace((unsigned char)s[i - 1]) || s[i - 1] == ';');
}

static lam_status parse_seq(parser *p, const char *s, size_t len, scope *sc, int top)
{
    size_t i = 0;
    while (i < len) {
        const char c = s[i];
        if (c == '#') {
            while (i < len && s[i] != '\n') {
                i++;
            }
            continue;
        }
        if (isspace((unsigned char)c) || c == ';') {
            i++;
            continue;
        }
        if (starts_def(s, len, i)) {
            if (!top) {
                spec_tok t = {s + i, 3};
                return tok_error(p, sc, &t, "a block cannot define another block");
            }
            lam_status st = parse_def(p, sc, s, len, &i);
            if (st != LAM_OK) {
                return st;
            }
            continue;
        }
        size_t j = i;
        int depth = 0;
        while (j < len && (depth > 0 || !(isspace((unsigned char)s[j]) || s[j] == ';' ||
                                          s[j] == '#'))) {
            depth += s[j] == '(' ? 1 : s[j] == ')' ? -1 : 0;
            if (s[j] == '{' || s[j] == '}' || depth < 0 || (depth > 0 && s[j] == '#')) {
                break;
            }
            j++;
        }
        spec_tok t = {s + i, j > i ? j - i : 1};
        if (j < len && (s[j] == '{' || s[j] == '}' || depth != 0)) {
            return tok_error(p, sc, &t, depth != 0 ? "unbalanced parentheses"
                                                   : "unexpected brace (blocks are 'def NAME(P) "
                                                     "{ ... }')");
        }
        if (depth != 0) {
            return tok_error(p, sc, &t, "unbalanced parentheses");
        }
        lam_status st = parse_item(p, sc, &t);
        if (st != LAM_OK) {
            return st;
        }
        i = j;
    }
    return LAM_OK;
}

lam_status lam__spec_parse(lam_ctx *ctx, const char *spec, int64_t n_out, lam_spec_node **nodes,
                           int *count)
{
    if (spec == NULL || nodes == NULL || count == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "model spec: NULL argument");
    }
    size_t total = strnlen(spec, LAM_SPEC_MAX_LEN + 1);
    if (total > LAM_SPEC_MAX_LEN) {
        return lam__error(ctx, LAM_ERR_FORMAT, "model spec: longer than %d bytes",
                          LAM_SPEC_MAX_LEN);
    }
    parser *p = lam_alloc(ctx, sizeof *p);
    if (p == NULL) {
        return LAM_ERR_NOMEM;
    }
    memset(p, 0, sizeof *p);
    p->ctx = ctx;
    p->n_out = n_out;
    p->cap = 16;
    p->nodes = lam_alloc(ctx, (size_t)p->cap * sizeof *p->nodes);
    p->inst = lam_alloc(ctx, (size_t)p->cap * sizeof *p->inst);
    lam_status st = LAM_ERR_NOMEM;
    if (p->nodes != NULL && p->inst != NULL) {
        scope top = {NULL, "", NULL, -1, -1};
        st = parse_seq(p, spec, total, &top, 1);
    }
    if (st == LAM_OK && p->count == 0) {
        st = lam__error(ctx, LAM_ERR_FORMAT, "model spec: no layers");
    }
    if (st == LAM_OK) {
        *nodes = p->nodes;
        *count = p->count;
    } else {
        lam_free(ctx, p->nodes);
    }
    lam_free(ctx, p->inst);
    lam_free(ctx, p);
    return st;
}
