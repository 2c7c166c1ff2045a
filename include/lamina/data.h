/* lamina/data.h */
#ifndef LAMINA_DATA_H
#define LAMINA_DATA_H
#include "lamina/core.h"
#endif
