/*
 * Requests held back by latency faults. A held request's connection is
 * suspended in libmicrohttpd, so no request thread sleeps; one timer thread
 * resumes each when its time comes, and libmicrohttpd then calls the
 * request handler again.
 */
#ifndef METATOKEN_SERVER_DELAYS_H
#define METATOKEN_SERVER_DELAYS_H

#include <stdint.h>

struct delays;
struct MHD_Connection;

/* Makes the set of held requests; its timer thread starts with the first
 * hold. Returns NULL when out of memory. */
struct delays *delays_start(void);

/*
 * Suspends conn (call from its request handler) and resumes it after
 * delay_ms. Returns 0 if held, or -1 (nothing done) while stopping or out
 * of memory: then answer at once.
 */
int delays_hold(struct delays *d, struct MHD_Connection *conn, int64_t delay_ms);

/* Resumes every held connection now and refuses new holds, so that the
 * daemon can drain and stop. */
void delays_flush(struct delays *d);

/* Stops the thread and frees d. Call after delays_flush and after the
 * daemon stopped. No operation is performed if d is NULL. */
void delays_free(struct delays *d);

#endif
