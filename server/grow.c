#include "grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GROW_FIRST 16 /* elements, the first time */

/*
 * The array's pointer is read and written through memcpy rather than as a
 * void **, which would alias the caller's T * as another pointer type.
 */
int grow_reserve(void *itemsp, size_t *cap, size_t need, size_t max, size_t elem_size)
{
	size_t limit, next;
	void *items, *grown;

	if (need <= *cap)
		return 0;
	if (elem_size == 0)
		return -1;
	limit = SIZE_MAX / elem_size;
	if (max < limit)
		limit = max;
	if (need > limit)
		return -1;
	if (*cap == 0)
		next = GROW_FIRST;
	else
		next = *cap > limit / 2 ? limit : *cap * 2;
	if (next < need)
		next = need;
	if (next > limit)
		next = limit;
	memcpy(&items, itemsp, sizeof(items));
	grown = realloc(items, next * elem_size);
	if (!grown)
		return -1;
	memcpy(itemsp, &grown, sizeof(grown));
	*cap = next;
	return 0;
}
