/* The graph as a user sees it: the spec language (names, inputs, blocks, repeats), shape
 * inference and its messages, the memory plan, and the accessors of nodes. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lamina.h"

static lam_status build(lam_ctx *ctx, const char *spec, int ndim, const int64_t *shape,
                        lam_model **m)
{
    *m = NULL;
    return lam_model_create(ctx, spec, ndim, shape, 10, 4, m);
}

/* The status and a fragment the message must contain. */
static void expect_error(lam_ctx *ctx, const char *spec, const int64_t *shape, lam_status want,
                         const char *fragment)
{
    lam_model *m = NULL;
    lam_status st = build(ctx, spec, 3, shape, &m);
    T_CHECK(st == want && m == NULL, "'%s': status %d (%s), want %d", spec, st,
            lam_ctx_errmsg(ctx), want);
    T_CHECK(strstr(lam_ctx_errmsg(ctx), fragment) != NULL, "'%s': message '%s' lacks '%s'",
            spec, lam_ctx_errmsg(ctx), fragment);
    lam_model_destroy(m);
}

static int has_param(lam_model *m, const char *name, int64_t n)
{
    lam_param *p;
    int np;
    lam_model_params(m, &p, &np);
    for (int i = 0; i < np; i++) {
        if (strcmp(p[i].name, name) == 0) {
            return p[i].n == n;
        }
    }
    return 0;
}

static void test_resnet20(lam_ctx *ctx)
{
    const int64_t cifar[3] = {3, 32, 32}, fmnist[3] = {1, 28, 28};
    lam_model *m;
    if (!T_CHECK(build(ctx, "resnet20", 3, cifar, &m) == LAM_OK, "resnet20: %s",
                 lam_ctx_errmsg(ctx))) {
        return;
    }
    T_CHECK(lam_model_param_count(m) == 272474, "resnet20 on 3x32x32: %lld parameters",
            (long long)lam_model_param_count(m));
    T_CHECK(lam_model_layer_count(m) == 72, "resnet20: %d nodes", lam_model_layer_count(m));
    /* torchvision's names, PyTorch's shapes */
    T_CHECK(has_param(m, "conv1.weight", 16 * 3 * 9) && has_param(m, "fc.bias", 10) &&
                has_param(m, "layer2.0.downsample.0.weight", 32 * 16) &&
                has_param(m, "layer3.2.bn2.weight", 64) &&
                has_param(m, "layer1.1.conv2.weight", 16 * 16 * 9),
            "resnet20 parameter names");
    /* the projection reads the block's input, the output of layer1.2's last relu */
    const int ds = lam_model_find(m, "layer2.0.downsample.0");
    int in[LAM_MAX_INPUTS];
    T_CHECK(ds > 0 && lam_model_layer_inputs(m, ds, in) == 1 &&
                in[0] == lam_model_find(m, "layer2.0.conv1") - 1,
            "downsample.0 (node %d) reads the block input (node %d)", ds, in[0]);
    const int add = lam_model_find(m, "layer2.0.bn2") + 3;
    T_CHECK(lam_model_layer_inputs(m, add, in) == 2 && in[0] == add - 3 && in[1] == add - 1 &&
                strcmp(lam_layer_kind_name(lam_model_layer(m, add)), "add") == 0,
            "layer2.0's add reads bn2 and downsample.1");
    lam_shape out = lam_model_output_shape(m);
    T_CHECK(out.ndim == 1 && out.dim[0] == 10, "output (10)");
    /* the memory plan shares buffers: far less than every value on its own */
    lam_model_memory mem;
    T_CHECK(lam_model_memory_info(m, &mem) == LAM_OK && mem.planned > 0 &&
                mem.planned < mem.unshared / 2 && mem.activations_per_sample > 0 &&
                mem.parameters >= 2 * 272474 * 4,
            "memory: planned %lld, unshared %lld, per sample %lld, parameters %lld",
            (long long)mem.planned, (long long)mem.unshared,
            (long long)mem.activations_per_sample, (long long)mem.parameters);
    T_CHECK(strstr(lam_layer_strategy(lam_model_layer(m, 2)), "in bn1") != NULL &&
                strstr(lam_layer_strategy(lam_model_layer(m, 8)), "in place") != NULL &&
                strstr(lam_layer_strategy(lam_model_layer(m, 9)), "in place") != NULL,
            "relu after bn folds into it ('%s'), the block's add and relu run in place ('%s', "
            "'%s')", lam_layer_strategy(lam_model_layer(m, 2)),
            lam_layer_strategy(lam_model_layer(m, 8)), lam_layer_strategy(lam_model_layer(m, 9)));
    lam_model_destroy(m);
    T_CHECK(build(ctx, "resnet20", 3, fmnist, &m) == LAM_OK, "resnet20 on 1x28x28: %s",
            lam_ctx_errmsg(ctx));
    T_CHECK(m != NULL && lam_model_param_count(m) == 272474 - 2 * 16 * 9,
            "resnet20 on 1x28x28: %lld parameters", (long long)lam_model_param_count(m));
    lam_model_destroy(m);
}

static void test_names_and_refs(lam_ctx *ctx)
{
    const int64_t feat[1] = {6};
    lam_model *m;
    /* repeats name their instances .0, .1, ... (from index=) and chain them */
    if (T_CHECK(build(ctx, "linear*3:4,name=fc relu linear*2:4,name=h,index=5 linear:out", 1,
                      feat, &m) == LAM_OK, "repeats: %s", lam_ctx_errmsg(ctx))) {
        const char *want[] = {"fc.0", "fc.1", "fc.2", "relu#3", "h.5", "h.6", "linear#6"};
        for (int i = 0; i < 7; i++) {
            int in[LAM_MAX_INPUTS];
            T_CHECK(strcmp(lam_layer_name(lam_model_layer(m, i)), want[i]) == 0 &&
                        lam_model_layer_inputs(m, i, in) == 1 && in[0] == i - 1,
                    "node %d is %s, input %d", i, lam_layer_name(lam_model_layer(m, i)), in[0]);
        }
        T_CHECK(has_param(m, "fc.1.weight", 16) && has_param(m, "h.6.bias", 4), "names");
        lam_model_destroy(m);
    }
    /* inputs by name, '.', 'in', -N; a block's names are looked up inside it first; a block
     * instance's name is its output */
    const char *spec = "def blk(k) { linear:$k,name=a tanh add(a, .) relu:name=out }\n"
                       "linear:4,name=a blk:4,name=b1 blk:4,name=b2 add(b1, -1, a, in) "
                       "linear(b1.a):4 concat(-2, .) linear:out";
    const int64_t four[1] = {4};
    if (T_CHECK(build(ctx, spec, 1, four, &m) == LAM_OK, "refs: %s", lam_ctx_errmsg(ctx))) {
        int in[LAM_MAX_INPUTS];
        const int b1a = lam_model_find(m, "b1.a"), b2a = lam_model_find(m, "b2.a");
        const int b1 = lam_model_find(m, "b1.out"), b2 = lam_model_find(m, "b2.out");
        T_CHECK(b1a == 1 && b1 == 4 && b2a == 5 && b2 == 8, "block nodes %d %d %d %d", b1a,
                b1, b2a, b2);
        /* inside b2, 'a' is b2.a, not the top-level a */
        T_CHECK(lam_model_layer_inputs(m, b2a + 2, in) == 2 && in[0] == b2a && in[1] == b2a + 1,
                "b2's add reads b2.a and the tanh");
        T_CHECK(lam_model_layer_inputs(m, 9, in) == 4 && in[0] == b1 && in[1] == b2 &&
                    in[2] == 0 && in[3] == -1,
                "add(b1, -1, a, in) reads %d %d %d %d", in[0], in[1], in[2], in[3]);
        T_CHECK(lam_model_layer_inputs(m, 10, in) == 1 && in[0] == b1a, "linear(b1.a)");
        T_CHECK(lam_model_layer_inputs(m, 11, in) == 2 && in[0] == 9 && in[1] == 10,
                "concat(-2, .)");
        lam_model_destroy(m);
    }
    /* the chain specs of before keep their names ("conv2d#0"), so old checkpoints load */
    const int64_t img[3] = {1, 8, 8};
    if (T_CHECK(build(ctx, "conv:4,3 relu maxpool:2 flatten linear:out", 3, img, &m) == LAM_OK,
                "chain")) {
        T_CHECK(has_param(m, "conv2d#0.weight", 36) && has_param(m, "linear#4.bias", 10),
                "chain names");
        T_CHECK(strstr(lam_layer_strategy(lam_model_layer(m, 3)), "view") != NULL &&
                    strstr(lam_layer_strategy(lam_model_layer(m, 1)), "in conv2d#0") != NULL,
                "flatten is a view ('%s'), relu folds into conv ('%s')",
                lam_layer_strategy(lam_model_layer(m, 3)),
                lam_layer_strategy(lam_model_layer(m, 1)));
        lam_model_destroy(m);
    }
}

static void test_errors(lam_ctx *ctx)
{
    const int64_t img[3] = {1, 8, 8};
    expect_error(ctx, "conv(b):4,3,name=a conv(a):4,3,name=b add(a, b)", img, LAM_ERR_FORMAT,
                 "cycle");
    expect_error(ctx, "conv:4,3 add(., nope)", img, LAM_ERR_FORMAT,
                 "input 'nope' is not an earlier node");
    expect_error(ctx, "conv:4,3,name=a conv:4,3 add(a, .)", img, LAM_ERR_SHAPE,
                 "layer 2 (add): input 1 is 4x4x4 but input 0 is 4x6x6");
    expect_error(ctx, "conv:4,3,name=a relu conv:4,3,name=a", img, LAM_ERR_FORMAT,
                 "the name 'a' is used twice");
    expect_error(ctx, "conv:4,3,name=a conv(in):4,3", img, LAM_ERR_SHAPE,
                 "layer 0 (conv2d a): its output is never used");
    expect_error(ctx, "conv:4,3 add", img, LAM_ERR_FORMAT, "add takes 2 or more inputs, not 1");
    expect_error(ctx, "conv:4,3 relu(., .)", img, LAM_ERR_FORMAT, "relu takes 1 input, not 2");
    expect_error(ctx, "def b(c) { conv:$d,3 } b:4", img, LAM_ERR_FORMAT,
                 "$d, which is not one of its parameters");
    expect_error(ctx, "def b(c) { conv:$c,3 } b", img, LAM_ERR_FORMAT,
                 "needs its parameter c");
    expect_error(ctx, "def b(c) { b:$c } b:4", img, LAM_ERR_FORMAT, "nested more than");
    expect_error(ctx, "def b(c) { } b:4", img, LAM_ERR_FORMAT, "has no layers");
    expect_error(ctx, "def conv(c) { relu }", img, LAM_ERR_FORMAT, "new block name");
    expect_error(ctx, "def b(c) { relu", img, LAM_ERR_FORMAT, "no closing '}'");
    expect_error(ctx, "conv:4,3 add(., in", img, LAM_ERR_FORMAT, "unbalanced parentheses");
    expect_error(ctx, "conv:4,3 relu }", img, LAM_ERR_FORMAT, "unexpected brace");
    expect_error(ctx, "conv:4,3 add(., -9)", img, LAM_ERR_FORMAT, "does not name an earlier");
    expect_error(ctx, "conv:4,3,name=a.", img, LAM_ERR_FORMAT, "bad name");
    expect_error(ctx, "conv:$c,3", img, LAM_ERR_FORMAT, "'$' outside a block");
    expect_error(ctx, "relu*0", img, LAM_ERR_FORMAT, "bad repeat count");
    expect_error(ctx, "concat(in, in):axis=3", img, LAM_ERR_FORMAT, "bad value '3' for axis");
    expect_error(ctx, "concat(in, .):axis=1 conv:2,3 concat(-2, .)", img, LAM_ERR_SHAPE,
                 "only dimension 0 may differ");
}

static void test_null_safety(void)
{
    T_CHECK(lam_model_output_shape(NULL).ndim == 0 && lam_model_input_shape(NULL).ndim == 0,
            "shapes of NULL");
    T_CHECK(lam_layer_output_shape(NULL).ndim == 0 && strcmp(lam_layer_name(NULL), "") == 0 &&
                lam_layer_input_count(NULL) == 0 && lam_model_layer_count(NULL) == 0 &&
                lam_model_find(NULL, "x") == -1 && lam_model_layer_inputs(NULL, 0, NULL) == 0,
            "accessors of NULL");
    lam_model_memory mem;
    T_CHECK(lam_model_memory_info(NULL, &mem) == LAM_ERR_ARG, "memory info of NULL");
    T_CHECK(strcmp(lam_version(), LAM_VERSION_STRING) == 0 &&
                lam_version_number() == LAM_VERSION_MAJOR * 10000 + LAM_VERSION_MINOR * 100 +
                                            LAM_VERSION_PATCH,
            "version %s", lam_version());
    int n = 0;
    while (lam_model_builtin_name(n) != NULL) {
        T_CHECK(lam_model_builtin_spec(lam_model_builtin_name(n)) != NULL, "built-in %d", n);
        n++;
    }
    T_CHECK(n >= 4, "%d built-in models", n);
}

/* A graph that only reorders a chain computes the same bits as the chain. */
static void test_same_as_chain(lam_ctx *ctx)
{
    const int64_t img[3] = {2, 8, 8};
    lam_model *a = NULL, *b = NULL;
    const char *chain = "conv:4,3,pad=1 bn relu conv:4,3 flatten linear:out";
    const char *graph = "conv(in):4,3,pad=1 bn(.) relu(-1) conv(.):4,3 flatten linear(.):out";
    T_CHECK(build(ctx, chain, 3, img, &a) == LAM_OK && build(ctx, graph, 3, img, &b) == LAM_OK,
            "chain and graph: %s", lam_ctx_errmsg(ctx));
    if (a == NULL || b == NULL) {
        lam_model_destroy(a);
        lam_model_destroy(b);
        return;
    }
    float x[4 * 2 * 8 * 8];
    t_fill_uniform(x, 4 * 2 * 8 * 8, -1.0f, 1.0f, 5, 1);
    const float *ya, *yb;
    T_CHECK(lam_model_forward(a, x, 4, 1, &ya) == LAM_OK &&
                lam_model_forward(b, x, 4, 1, &yb) == LAM_OK,
            "forwards");
    t_equal("graph spelling of a chain: outputs", yb, ya, 40);
    lam_model_destroy(a);
    lam_model_destroy(b);
}

/* lam_model_import: values land where their names say, F64 and F16 convert exactly (these
 * values are exact in both), num_batches_tracked is ignored, and the descriptor's options
 * work. dir is tests/badfiles, whose good/ files make_badfiles.py wrote. */
static void test_import(lam_ctx *ctx, const char *dir)
{
    const int64_t in[1] = {3};
    const char *spec = "linear:2,name=fc bn:name=bn linear:out,name=head";
    char ok[600], conv[600];
    snprintf(ok, sizeof ok, "%s/good/weights_ok.safetensors", dir);
    snprintf(conv, sizeof conv, "%s/good/weights_f64_f16.safetensors", dir);
    lam_model *m = NULL;
    if (!T_CHECK(lam_model_create(ctx, spec, 1, in, 3, 2, &m) == LAM_OK, "import model")) {
        return;
    }
    lam_import_report rep;
    T_CHECK(lam_model_import(m, ok, NULL, &rep) == LAM_OK && rep.tensors == 8 &&
                rep.ignored == 1 && rep.converted == 0 && rep.floats == 25,
            "import: %s (%d tensors, %d ignored, %d converted, %lld floats)",
            lam_ctx_errmsg(ctx), rep.tensors, rep.ignored, rep.converted, (long long)rep.floats);
    lam_param *p, *b;
    int np, nb;
    lam_model_params(m, &p, &np);
    lam_model_buffers(m, &b, &nb);
    T_CHECK(np == 6 && p[0].w[5] == -0.6f && p[3].w[1] == 0.2f && p[4].w[5] == 6.0f &&
                p[5].w[2] == 0.125f && nb == 2 && b[0].w[1] == -0.3f && b[1].w[0] == 2.0f,
            "imported values land by name");
    float before[6];
    memcpy(before, p[0].w, sizeof before);
    memset(p[0].w, 0, sizeof before);
    p[5].w[2] = 0.0f;
    T_CHECK(lam_model_import(m, conv, NULL, &rep) == LAM_OK && rep.converted == 2,
            "F64 and F16: %s (%d converted)", lam_ctx_errmsg(ctx), rep.converted);
    T_CHECK(memcmp(before, p[0].w, sizeof before) == 0 && p[5].w[2] == 0.125f,
            "F64 and F16 values convert exactly");
    /* a prefix to strip ("module." of DataParallel) and unused tensors allowed */
    lam_model_destroy(m);
    m = NULL;
    T_CHECK(lam_model_create(ctx, "linear:2,name=fc bn:name=bn linear:out,name=head", 1, in, 3,
                             2, &m) == LAM_OK, "second model");
    lam_import_desc d;
    lam_import_desc_init(&d);
    d.strip_prefix = "module.";
    T_CHECK(lam_model_import(m, ok, &d, &rep) == LAM_OK, "a prefix absent from the file");
    lam_model_destroy(m);
    m = NULL;
    T_CHECK(lam_model_create(ctx, "linear:2,name=fc bn:name=bn", 1, in, 3, 2, &m) == LAM_OK,
            "smaller model");
    T_CHECK(lam_model_import(m, ok, NULL, &rep) == LAM_ERR_FORMAT &&
                strstr(lam_ctx_errmsg(ctx), "'head.bias' matches nothing") != NULL,
            "unused tensors are an error by default: %s", lam_ctx_errmsg(ctx));
    d.allow_unused = 1;
    T_CHECK(lam_model_import(m, ok, &d, &rep) == LAM_OK && rep.ignored == 3,
            "allow_unused: %d ignored", rep.ignored);
    d.reserved[0] = 1;
    T_CHECK(lam_model_import(m, ok, &d, &rep) == LAM_ERR_ARG, "reserved words must be zero");
    lam_model_destroy(m);
}

int main(int argc, char **argv)
{
    lam_ctx *ctx = NULL;
    if (lam_ctx_create(NULL, &ctx) != LAM_OK) {
        return 1;
    }
    test_resnet20(ctx);
    test_names_and_refs(ctx);
    test_errors(ctx);
    test_null_safety();
    test_same_as_chain(ctx);
    if (T_CHECK(argc > 1, "usage: test_graph tests/badfiles")) {
        test_import(ctx, argv[1]);
    }
    lam_ctx_destroy(ctx);
    return t_exit("graph");
}
