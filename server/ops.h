/*
 * The operations flavour: GET /metrics (Prometheus text exposition format
 * 0.0.4), /healthz (the process answers) and /readyz (it can hand out
 * tokens). No metadata header is asked for and nothing secret is
 * answered: labels are flavour names, route patterns, status codes,
 * account ids and function names, all from the configuration or the route
 * table, never a path or header a client sent. The counters live with what
 * they count (metrics.h, slot.h, function.h, daemon.h); this file only
 * formats them.
 */
#ifndef METATOKEN_SERVER_OPS_H
#define METATOKEN_SERVER_OPS_H

struct request;

void ops_metrics(struct request *rq);
void ops_healthz(struct request *rq);
void ops_readyz(struct request *rq);

#endif
