#ifndef CAPFILT_CARCHIVE_SHIM_H
#define CAPFILT_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
// AE_IFREG is a cast expression, ((__LA_MODE_T)0100000): a macro Swift cannot import.
static inline mode_t capfilt_archive_regular_file(void) { return AE_IFREG; }
#endif
