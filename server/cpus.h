/*
 * How many request threads to run: one per CPU this process may run on
 * (what nproc prints), so that under `taskset -c 0` one thread serves every
 * connection in turn instead of two taking turns on one CPU. Header-only:
 * the benchmark's bare libmicrohttpd program sizes itself the same way.
 */
#ifndef METATOKEN_SERVER_CPUS_H
#define METATOKEN_SERVER_CPUS_H

#include <sched.h>
#include <unistd.h>

static inline unsigned cpus_usable(void)
{
	cpu_set_t set;
	long cores;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	return cores > 0 ? (unsigned)cores : 1;
}

#endif
