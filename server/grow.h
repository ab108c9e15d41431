/*
 * One growable array for the server: an array's pointer and capacity stay
 * the caller's own fields (with its count), and grow_reserve() makes room.
 * Every growing array has a hard cap; the arithmetic that could wrap is
 * checked here, once.
 */
#ifndef METATOKEN_SERVER_GROW_H
#define METATOKEN_SERVER_GROW_H

#include <stddef.h>

/*
 * Makes room for at least `need` elements of elem_size bytes in the array
 * whose pointer is at itemsp (a T ** for an array of T; NULL while nothing
 * is allocated) and whose capacity, in elements, is *cap. The capacity at
 * least doubles (16 elements the first time) but never passes max.
 *
 * Returns 0 when there is room, having changed nothing if there already
 * was. Returns -1 with the array and *cap untouched when need is over max,
 * when need elements would not fit in a size_t, or when memory runs out.
 */
int grow_reserve(void *itemsp, size_t *cap, size_t need, size_t max, size_t elem_size);

#endif
