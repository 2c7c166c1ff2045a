/* Built-in models. Each adapts to the input shape through shape inference; `out` is the
 * number of classes (or regression targets). */
#include "model_internal.h"

#include <string.h>

typedef struct builtin {
    const char *name;
    const char *spec;
} builtin;

/* ResNet-20 for CIFAR-sized inputs (He et al. 2016, section 4.2) with torchvision's
 * BasicBlock and its tensor names, so a PyTorch state_dict() of the same network loads by
 * name: 3 stages of 3 blocks of 16, 32, 64 channels, a 1x1 conv + batch norm projection
 * where the shape changes (option B), global average pooling and a linear head. 272,474
 * parameters on 3x32x32 with 10 classes (32 -> 16 -> 8 before the pool); 1x28x28 maps to
 * 28 -> 14 -> 7. bench/torch_resnet.py is the same network in PyTorch. */
static const char resnet20[] =
    "# torchvision's BasicBlock: out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut)\n"
    "def basic(c) {\n"
    "  conv:$c,3,pad=1,bias=0,name=conv1 bn:name=bn1 relu\n"
    "  conv:$c,3,pad=1,bias=0,name=conv2 bn:name=bn2\n"
    "  add(., in) relu\n"
    "}\n"
    "# the first block of a stage: stride 2, and a projection shortcut of the input\n"
    "def down(c) {\n"
    "  conv:$c,3,stride=2,pad=1,bias=0,name=conv1 bn:name=bn1 relu\n"
    "  conv:$c,3,pad=1,bias=0,name=conv2 bn:name=bn2\n"
    "  conv(in):$c,1,stride=2,bias=0,name=downsample.0 bn:name=downsample.1\n"
    "  add(bn2, .) relu\n"
    "}\n"
    "conv:16,3,pad=1,bias=0,name=conv1 bn:name=bn1 relu\n"
    "basic*3:16,name=layer1\n"
    "down:32,name=layer2.0 basic*2:32,name=layer2,index=1\n"
    "down:64,name=layer3.0 basic*2:64,name=layer3,index=1\n"
    "gap linear:out,name=fc\n";

/* GPT-2's block as nanoGPT writes it, pre-LayerNorm with residual adds: x += attn(ln_1(x)),
 * x += mlp(ln_2(x)); tanh GELU as GPT-2 (and llm.c); weights from N(0, 0.02) and the two
 * projections into the residual stream from N(0, 0.02/sqrt(2 * layers)) (nanoGPT's
 * _init_weights), biases zero. Tensor names are nanoGPT's, so its state_dict imports. */
#define GPT_BLOCK                                                                              \
    "def block(d, ff, heads, proj) {\n"                                                        \
    "  layernorm:name=ln_1 attention:$heads,causal=1,std=0.02,std_out=$proj,name=attn\n"       \
    "  add(in, .):name=res\n"                                                                  \
    "  layernorm:name=ln_2 linear:$ff,std=0.02,name=mlp.c_fc gelu:approx=tanh\n"               \
    "  linear:$d,std=$proj,name=mlp.c_proj add(res, .)\n"                                      \
    "}\n"
/* The LM head shares the token embedding's matrix (tie=), as GPT-2's. */
#define GPT_HEAD                                                                               \
    "layernorm:name=transformer.ln_f linear:vocab,bias=0,tie=transformer.wte,name=lm_head\n"

/* nanoGPT's "baby GPT" of its CPU recipe: 4 layers, 4 heads, width 128, context 64, no
 * dropout. 0.80M parameters with a vocabulary of 100 (the head is the embedding). */
static const char gpt_mini[] =
    GPT_BLOCK
    "embedding:vocab,128,std=0.02,name=transformer.wte posembed:64,std=0.02,name=transformer.wpe\n"
    "block*4:128,512,4,0.0070710678,name=transformer.h\n" GPT_HEAD;

/* nanoGPT's shakespeare-char size: 6 layers, 6 heads, width 384, context 256 (dropout 0
 * here; nanoGPT trains it with 0.2). 10.7M parameters. */
static const char gpt_6x384[] =
    GPT_BLOCK
    "embedding:vocab,384,std=0.02,name=transformer.wte posembed:256,std=0.02,name=transformer.wpe\n"
    "block*6:384,1536,6,0.0057735027,name=transformer.h\n" GPT_HEAD;

static const builtin builtins[] = {
    /* The seed CNN of the design: 406,270 parameters on 1x28x28, 522,046 on 3x32x32. */
    {"seed-cnn", "conv:32,3,pad=1 relu maxpool:2 conv:64,3,pad=1 relu maxpool:2 flatten "
                 "linear:120 relu linear:84 relu linear:out"},
    /* LeNet-5 with ReLU and max-pooling, padded so 28x28 inputs keep the classic 5x5 maps. */
    {"lenet5", "conv:6,5,pad=2 relu maxpool:2 conv:16,5 relu maxpool:2 flatten linear:120 relu "
               "linear:84 relu linear:out"},
    /* The MLP of the speed issue: 784-512-256-10 on 1x28x28. */
    {"mlp", "flatten linear:512 relu linear:256 relu linear:out"},
    {"resnet20", resnet20},
    /* Character language models on token ids (T) (`vocab` = the classes: the text's
     * distinct bytes), named as PyTorch's word_language_model example names its modules
     * (encoder, rnn, decoder), so its state_dict imports by name. With a vocabulary of 100:
     * 888,164 parameters (char-lstm), 674,148 (char-gru). */
    {"char-lstm", "embedding:vocab,64,name=encoder lstm:256,layers=2,dropout=0.2,name=rnn "
                  "linear:vocab,name=decoder"},
    {"char-gru", "embedding:vocab,64,name=encoder gru:256,layers=2,dropout=0.2,name=rnn "
                 "linear:vocab,name=decoder"},
    {"gpt-mini", gpt_mini},
    {"gpt-6x384", gpt_6x384},
};

const char *lam_model_builtin_spec(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (strcmp(builtins[i].name, name) == 0) {
            return builtins[i].spec;
        }
    }
    return NULL;
}

const char *lam_model_builtin_name(int i)
{
    if (i < 0 || (size_t)i >= sizeof builtins / sizeof builtins[0]) {
        return NULL;
    }
    return builtins[i].name;
}
