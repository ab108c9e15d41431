/*
 * An STS stand-in (the flavour "sts"): GetCallerIdentity, signed with the
 * AWS credentials metatokend hands out (awscreds.h), so that an SDK's
 * handling of expired credentials can be tested against a clock the
 * control API moves. Served at POST / (where an SDK with endpoint_url =
 * this server sends it), in both protocols SDKs speak to STS:
 *
 *   query      Content-Type application/x-www-form-urlencoded, body
 *              Action=GetCallerIdentity&Version=2011-06-15; answers are
 *              text/xml: GetCallerIdentityResponse, or ErrorResponse with
 *              Error/Type, Error/Code, Error/Message and RequestId.
 *   awsJson1_0 X-Amz-Target: AWSSecurityTokenServiceV20110615.GetCallerIdentity,
 *              Content-Type application/x-amz-json-1.0, body {}; answers
 *              are {"UserId","Account","Arn"}, or {"__type","message"} with
 *              the query protocol's code in x-amzn-query-error: CODE;Sender
 *              (awsQueryCompatible), so an SDK sees the same code either way.
 *
 * A request is checked as AWS does, and answered with AWS's codes:
 *   no Authorization                      MissingAuthenticationToken 403
 *   an Authorization that does not parse  IncompleteSignature 400
 *   a key id or session token not ours,
 *   or a key id not the token's, or a
 *   token revoked                         InvalidClientTokenId 403
 *   a token past its expiry on the server
 *   clock, or expired by the control API  ExpiredToken 403
 *   a scope not for sts, a date outside
 *   15 minutes, a signature that differs  SignatureDoesNotMatch 403
 *   another operation or version          InvalidAction 400 (query),
 *                                         UnknownOperationException 400 (JSON)
 *
 * The request date is held to 15 minutes of the server clock, or of the
 * host's clock while the server clock is shifted: an SDK signs with the
 * host's clock, which `clock advance` does not move.
 */
#ifndef METATOKEN_SERVER_STS_H
#define METATOKEN_SERVER_STS_H

struct request;

/* POST /: the STS operation the request names. */
void sts_handle(struct request *rq);
/* The flavour's error shape (route.h) for refusals and faults. */
void sts_flavour_error(struct request *rq, unsigned status, const char *text);

#endif
