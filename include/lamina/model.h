/* lamina/model.h */
#ifndef LAMINA_MODEL_H
#define LAMINA_MODEL_H
#include "lamina/core.h"
#endif
