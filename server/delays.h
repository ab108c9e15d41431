/*
 * The daemon's timer: requests held back (latency faults, wait_for_change)
 * and a periodic sweep (the daemon's deadlines). A held request's
 * connection is suspended in libmicrohttpd, so no request thread sleeps;
 * one timer thread resumes each when its time comes, and libmicrohttpd
 * then calls the request handler again.
 *
 * Every time here is read from the wait clock (clock.h). On the real
 * source the thread sleeps until the next thing is due; on a test's fake
 * source it sleeps until woken, and delays_poll() runs what is due.
 */
#ifndef METATOKEN_SERVER_DELAYS_H
#define METATOKEN_SERVER_DELAYS_H

#include <stddef.h>
#include <stdint.h>

struct clock;
struct delays;
struct MHD_Connection;

/*
 * Makes the timer on clock c (borrowed). At most max_held requests are held
 * at once. sweep(cls), when non-NULL, runs every sweep_ms while the timer
 * runs, outside the timer's lock. The thread starts with delays_wake() or
 * the first hold. Returns NULL when out of memory.
 */
struct delays *delays_start(struct clock *c, size_t max_held, void (*sweep)(void *cls), void *cls,
                            int64_t sweep_ms);

/*
 * Suspends conn (call from its request handler) and resumes it after
 * delay_ms, or earlier on delays_resume(). *woken is the request's wake
 * flag, read and written under the timer's lock only: set, it means a
 * wake came before the hold, which is then not made (the flag is
 * cleared). Returns 0 if held, 1 if woken already, or -1 (nothing done)
 * while stopping, at the cap, or out of memory: then answer at once.
 */
int delays_hold(struct delays *d, struct MHD_Connection *conn, int64_t delay_ms, int *woken);
/* Resumes conn now if it is held; else sets *woken, so that the hold its
 * handler is about to ask for is not made. Safe from any thread while the
 * request lives. */
void delays_resume(struct delays *d, struct MHD_Connection *conn, int *woken);

/* Starts the thread if it is not running yet (the sweep needs it). */
void delays_wake(struct delays *d);

/* Resumes what is due now and runs the sweep if it is due. */
void delays_poll(struct delays *d);

/* How many requests are held now. */
size_t delays_held(struct delays *d);

/* Resumes every held connection now and refuses new holds, so that the
 * daemon can drain and stop. */
void delays_flush(struct delays *d);

/* Stops the thread and frees d. Call after delays_flush and after the
 * daemon stopped. No operation is performed if d is NULL. */
void delays_free(struct delays *d);

#endif
