/* Heap in use (harness/run/heap.h). The count is the allocator's own (bytes
 * handed out and not freed), not RSS: RSS only grows back slowly after a
 * free and ru_maxrss is a high-water mark of the whole run, so neither
 * says what one case holds. */
#include "harness/run/heap.h"

#include <malloc.h>

/* Defined by the ASan/LSan runtime when it is linked in; glibc's counts
 * do not see the sanitizer's allocator. */
extern size_t __sanitizer_get_current_allocated_bytes(void)
    __attribute__((weak));

size_t mp_heap_in_use(void)
{
  if (__sanitizer_get_current_allocated_bytes)
    return __sanitizer_get_current_allocated_bytes();
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  struct mallinfo2 mi = mallinfo2();
  /* Small chunks in use plus big ones mmap'd apart. */
  if (mi.uordblks + mi.hblkhd > 0)
    return mi.uordblks + mi.hblkhd;
#endif
#if defined(__GLIBC__)
    /* Valgrind (3.19) answers the old mallinfo for its own allocator but
     * not mallinfo2; its int fields are enough for a harness's heap. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  struct mallinfo old = mallinfo();
#pragma GCC diagnostic pop
  return (size_t)(unsigned)old.uordblks + (size_t)(unsigned)old.hblkhd;
#else
  return 0;
#endif
}

int mp_heap_measurable(void)
{
  return mp_heap_in_use() > 0;
}
