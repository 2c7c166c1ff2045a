/* lamina/optim.h */
#ifndef LAMINA_OPTIM_H
#define LAMINA_OPTIM_H
#include "lamina/core.h"
#endif
