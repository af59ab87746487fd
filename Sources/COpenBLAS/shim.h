// OpenBLAS's cblas.h imports as is; this header only names it.
#ifndef ICLSWEEP_COPENBLAS_SHIM_H
#define ICLSWEEP_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
