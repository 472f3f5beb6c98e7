// glibc's allocator settings (mallopt), which Swift's Glibc module does not import: Heap.swift.
#include <malloc.h>
