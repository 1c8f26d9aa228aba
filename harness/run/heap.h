/* How much heap the process holds right now, for the runner's memory
 * bound (expect.memory): glibc's count of bytes in use (mallinfo2), or
 * the sanitizer allocator's when built with ASan. */
#ifndef MP_HEAP_H
#define MP_HEAP_H

#include <stddef.h>

/* Bytes of heap in use by the whole process (every thread), or 0 when
 * this build cannot tell (then mp_heap_measurable() is 0). */
size_t mp_heap_in_use(void);

/* 1 if mp_heap_in_use() means something in this build. */
int mp_heap_measurable(void);

#endif
