#!/bin/sh
# A Lambda runtime in sh and curl, for tests: any program that speaks the
# Runtime API is a runtime. Events it understands (a JSON string):
#   "env"    answers with the environment a runtime gets
#   "crash"  exits with status 3 mid-invocation
#   "hang"   touches $MARK_DIR/hang and sleeps (a timeout ends it)
#   "fail"   reports a function error
#   other    echoes the event and this process's pid
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
hdrs=$(mktemp)
trap 'rm -f "$hdrs"' EXIT
while :; do
	ev=$(curl -sS -D "$hdrs" "$api/invocation/next") || exit 1
	id=$(tr -d '\r' <"$hdrs" | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: *//p')
	echo "handling $ev"
	case "$ev" in
	'"env"')
		printf '{"api":"%s","handler":"%s","root":"%s","yc":"%s","gce":"%s","name":"%s","mem":"%s","group":"%s","stream":"%s","greeting":"%s","pwd":"%s"}' \
			"$AWS_LAMBDA_RUNTIME_API" "$_HANDLER" "$LAMBDA_TASK_ROOT" "$YC_METADATA_ADDR" \
			"$GCE_METADATA_HOST" "$AWS_LAMBDA_FUNCTION_NAME" "$AWS_LAMBDA_FUNCTION_MEMORY_SIZE" \
			"$AWS_LAMBDA_LOG_GROUP_NAME" "$AWS_LAMBDA_LOG_STREAM_NAME" "$GREETING" "$(pwd)" |
			curl -sS -o /dev/null -d @- "$api/invocation/$id/response" ;;
	'"crash"')
		exit 3 ;;
	'"hang"')
		touch "$MARK_DIR/hang"
		sleep 30 ;;
	'"fail"')
		curl -sS -o /dev/null -H 'Lambda-Runtime-Function-Error-Type: Unhandled' \
			-d '{"errorMessage":"it failed","errorType":"Failure","stackTrace":[]}' \
			"$api/invocation/$id/error" ;;
	*)
		curl -sS -o /dev/null -d "{\"echo\":$ev,\"pid\":$$}" "$api/invocation/$id/response" ;;
	esac
done
