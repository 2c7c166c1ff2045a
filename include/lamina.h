/**
 * @file lamina.h
 * @brief lamina: train neural networks on CPUs with im2col + BLAS and OpenMP over the batch.
 *
 * The one header a user includes. It pulls in:
 *  - lamina/core.h   status codes, contexts, tensors, RNG, timer
 *  - lamina/model.h  layers, losses, sequential models, model specs, checkpoints
 *  - lamina/optim.h  optimizers, learning-rate schedules, initializers
 *  - lamina/data.h   dataset readers (IDX, CSV, NPY), normalization, batching
 *  - lamina/fit.h    training and inference on the caller's arrays (row- or column-major),
 *                    Levenberg-Marquardt, L-BFGS, model clones for concurrent inference
 *
 * See README.md for a complete training example.
 */
#ifndef LAMINA_H
#define LAMINA_H

#include "lamina/core.h"
#include "lamina/model.h"
#include "lamina/optim.h"
#include "lamina/data.h"
#include "lamina/fit.h"

#endif
