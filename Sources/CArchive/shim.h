#ifndef CAPFILT_CARCHIVE_SHIM_H
#define CAPFILT_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
// AE_IFREG is an octal macro typed mode_t in C; Swift imports it as a plain Int32 of the wrong
// signedness on some platforms, so one function hands back the right type.
static inline mode_t capfilt_archive_regular_file(void) { return AE_IFREG; }
#endif
