/**
 * @file lamina.h
 * @brief lamina: train neural networks on CPUs with im2col + BLAS and OpenMP over the batch.
 *
 * The one header a user includes. It pulls in:
 *  - lamina/core.h        status codes, contexts, shapes, tensors, RNG, timer, atomic files
 *  - lamina/layer.h       layers (convolution, linear, pooling, norms, activations, merges)
 *                         and losses
 *  - lamina/model.h       models as graphs of layers: specs, forward/backward, train steps
 *  - lamina/checkpoint.h  checkpoints, and weights imported from PyTorch by name
 *  - lamina/optim.h       optimizers, learning-rate schedules, initializers
 *  - lamina/data.h        dataset readers (IDX, CSV, NPY), normalization, augmentation,
 *                         batching
 *  - lamina/fit.h         training and inference on the caller's arrays (row- or
 *                         column-major), Levenberg-Marquardt, L-BFGS, model clones
 *
 * See README.md for a complete training example.
 */
#ifndef LAMINA_H
#define LAMINA_H

#include "lamina/core.h"
#include "lamina/layer.h"
#include "lamina/model.h"
#include "lamina/checkpoint.h"
#include "lamina/optim.h"
#include "lamina/data.h"
#include "lamina/fit.h"
#include "lamina/lm.h"

#endif
