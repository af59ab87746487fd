// Shims for OpenMPI: only the macros Swift cannot import.
#ifndef ICLSWEEP_CMPI_SHIM_H
#define ICLSWEEP_CMPI_SHIM_H
#include <mpi.h>

// MPI_COMM_WORLD is a macro taking the address of a global.
static inline MPI_Comm shim_MPI_COMM_WORLD(void) { return MPI_COMM_WORLD; }
// Datatype, op and sentinel handles are macros too.
static inline MPI_Datatype shim_MPI_BYTE(void) { return MPI_BYTE; }
static inline MPI_Datatype shim_MPI_INT64(void) { return MPI_INT64_T; }
static inline MPI_Datatype shim_MPI_DOUBLE(void) { return MPI_DOUBLE; }
static inline MPI_Datatype shim_MPI_FLOAT(void) { return MPI_FLOAT; }
static inline MPI_Op shim_MPI_SUM(void) { return MPI_SUM; }
static inline MPI_Op shim_MPI_MAX(void) { return MPI_MAX; }
static inline MPI_Info shim_MPI_INFO_NULL(void) { return MPI_INFO_NULL; }
static inline MPI_Errhandler shim_MPI_ERRORS_RETURN(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Status *shim_MPI_STATUS_IGNORE(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *shim_MPI_STATUSES_IGNORE(void) { return MPI_STATUSES_IGNORE; }
static inline void *shim_MPI_IN_PLACE(void) { return MPI_IN_PLACE; }
static inline MPI_Request shim_MPI_REQUEST_NULL(void) { return MPI_REQUEST_NULL; }
static inline int shim_MPI_ANY_SOURCE(void) { return MPI_ANY_SOURCE; }
static inline int shim_MPI_MAX_ERROR_STRING(void) { return MPI_MAX_ERROR_STRING; }
static inline int shim_MPI_MAX_PROCESSOR_NAME(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int shim_MPI_MODE_NOCHECK(void) { return MPI_MODE_NOCHECK; }
// An enumerator in OpenMPI, a macro elsewhere.
static inline int shim_MPI_COMM_TYPE_SHARED(void) { return MPI_COMM_TYPE_SHARED; }
#endif
