/*
 * The control API under /metatoken/v1/ (README.md, "Control API"): what a
 * test uses to make token expiry, revocation and outages happen on demand.
 * Every call requires `Authorization: Bearer <admin secret>` (admin.h).
 *
 * And the validation stand-ins for the cloud APIs an SDK would call with
 * its token: GET /tokeninfo and anything under /protected/.
 */
#ifndef METATOKEN_SERVER_CONTROL_H
#define METATOKEN_SERVER_CONTROL_H

#include <stddef.h>

struct server;
struct request;

/* The flavour's rule (route.h): the API is on and the admin secret given. */
int control_admit(struct request *rq);

/* The endpoints under /metatoken/v1/, as README.md documents them; the
 * route table (route.c) names each. An account's `*` is in rq->arg[0]. */
void control_accounts_list(struct request *rq);
void control_account_get(struct request *rq);
void control_account_patch(struct request *rq);
void control_account_expire(struct request *rq);
void control_account_revoke(struct request *rq);
void control_account_rotate(struct request *rq);
void control_clock_get(struct request *rq);
void control_clock_post(struct request *rq);
void control_faults_get(struct request *rq);
void control_faults_post(struct request *rq);
void control_faults_delete(struct request *rq);
void control_fault_delete(struct request *rq);
void control_stats_get(struct request *rq);
/* Instance and project metadata (control_meta.c). */
void control_instance_get(struct request *rq);
void control_instance_patch(struct request *rq);
void control_project_get(struct request *rq);
void control_project_patch(struct request *rq);
void control_reset_post(struct request *rq);
/* Authorized keys (control_keys.c): list an account's, or create one. */
void control_account_keys_get(struct request *rq);
void control_account_keys_post(struct request *rq);

/* GET /tokeninfo?access_token=T: Google's shape. */
void validate_handle_tokeninfo(struct request *rq);
/* Anything under /protected/: requires a valid service-account Bearer token. */
void validate_handle_protected(struct request *rq);

#endif
