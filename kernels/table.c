/*
 * The two kernel tables. Const, so they are shared by every context without a global
 * mutable state; a context picks one with lam__kernels_for (LAM_KERNELS_REF = `--ref`).
 */
#include "kernels.h"

const lam_kernels lam__kernels_fast = {
    .sgemm = lam__sgemm,
    .conv2d_fwd = lam__conv2d_fwd,
    .conv2d_bwd_data = lam__conv2d_bwd_data,
    .conv2d_bwd_weight = lam__conv2d_bwd_weight,
    .linear_fwd = lam__linear_fwd,
    .linear_bwd = lam__linear_bwd,
    .linear_fused_fwd = lam__linear_fused_fwd,
    .linear_fused_bwd = lam__linear_fused_bwd,
    .maxpool_fwd = lam__maxpool_fwd,
    .maxpool_bwd = lam__maxpool_bwd,
    .avgpool_fwd = lam__avgpool_fwd,
    .avgpool_bwd = lam__avgpool_bwd,
    .isa_gemm = lam__conv_gemm,
    .rnn_seq_fwd = lam__rnn_seq_fwd,
    .rnn_seq_bwd = lam__rnn_seq_bwd,
    .act_fwd = lam__act_fwd,
    .act_bwd = lam__act_bwd,
    .layernorm_fwd = lam__layernorm_fwd,
    .layernorm_bwd = lam__layernorm_bwd,
    .attn_head_fwd = lam__attn_head_fwd,
    .attn_head_bwd = lam__attn_head_bwd,
    .conv2d_fused_workspace = lam__conv2d_fused_workspace,
    .conv2d_fused_fwd = lam__conv2d_fused_fwd,
    .conv2d_fused_bwd = lam__conv2d_fused_bwd,
    .bias_act = lam__bias_act,
    .bias_grad = lam__bias_grad,
    .softmax_xent = lam__softmax_xent,
    .bn_workspace = lam__bn_workspace,
    .bn_fwd_train = lam__bn_fwd_train,
    .bn_fwd_affine = lam__bn_fwd_affine,
    .bn_bwd = lam__bn_bwd,
};

const lam_kernels lam__kernels_ref = {
    .sgemm = lam__sgemm_ref,
    .conv2d_fwd = lam__conv2d_fwd_ref,
    .conv2d_bwd_data = lam__conv2d_bwd_data_ref,
    .conv2d_bwd_weight = lam__conv2d_bwd_weight_ref,
    .linear_fwd = lam__linear_fwd_ref,
    .linear_bwd = lam__linear_bwd_ref,
    .linear_fused_fwd = lam__linear_fused_fwd_ref,
    .linear_fused_bwd = lam__linear_fused_bwd_ref,
    .maxpool_fwd = lam__maxpool_fwd_ref,
    .maxpool_bwd = lam__maxpool_bwd_ref,
    .avgpool_fwd = lam__avgpool_fwd_ref,
    .avgpool_bwd = lam__avgpool_bwd_ref,
    .isa_gemm = lam__conv_gemm_ref,
    .rnn_seq_fwd = lam__rnn_seq_fwd_ref,
    .rnn_seq_bwd = lam__rnn_seq_bwd_ref,
    .act_fwd = lam__act_fwd_ref,
    .act_bwd = lam__act_bwd_ref,
    .layernorm_fwd = lam__layernorm_fwd_ref,
    .layernorm_bwd = lam__layernorm_bwd_ref,
    .attn_head_fwd = lam__attn_head_fwd_ref,
    .attn_head_bwd = lam__attn_head_bwd_ref,
    .conv2d_fused_workspace = lam__conv2d_fused_workspace_ref,
    .conv2d_fused_fwd = lam__conv2d_fused_fwd_ref,
    .conv2d_fused_bwd = lam__conv2d_fused_bwd_ref,
    .bias_act = lam__bias_act_ref,
    .bias_grad = lam__bias_grad_ref,
    .softmax_xent = lam__softmax_xent_ref,
    .bn_workspace = lam__bn_workspace_ref,
    .bn_fwd_train = lam__bn_fwd_train_ref,
    .bn_fwd_affine = lam__bn_fwd_affine_ref,
    .bn_bwd = lam__bn_bwd_ref,
};

const lam_kernels *lam__kernels_for(lam_kernel_set set)
{
    return set == LAM_KERNELS_REF ? &lam__kernels_ref : &lam__kernels_fast;
}
