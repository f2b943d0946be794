#!/bin/sh
# A stand-in for the seed's `ai` and `tasks` services: writes log lines in the seed logger's
# formats, forever, so the stack has something to ship.
#
#   LOG_FORMAT=json  {"timestamp":"<ISO>","level":"INFO","tag":"<tag>","message":"<msg>",
#                     "context":{"requestId":"<uuid>","statusCode":200,"durationMs":87}}
#   LOG_FORMAT=text  [<ISO>] [INFO] [<tag>]: <msg> {"requestId":"<uuid>","statusCode":200,...}
#
# INFO goes to stdout, WARN and ERROR to stderr (as Node's console.warn/console.error do).
# Mix: about 78% INFO, 14% WARN (slow requests over 1000 ms, rate limits), 8% ERROR (5xx).
#
# Environment: LOG_FORMAT (json|text, default text), SERVICE (tag family: ai|tasks, default
# tasks), RATE (mean lines per second, default 2), COUNT (stop after this many lines; default 0,
# never). POSIX sh + awk only (busybox is enough).

set -u

format=${LOG_FORMAT:-text}
service=${SERVICE:-tasks}
rate=${RATE:-2}
count=${COUNT:-0}
n=0

trap 'exit 0' INT TERM

# ISO-8601 UTC with milliseconds, as JavaScript's Date.toISOString() prints it.
now_iso() {
    ns=$(date -u +%N 2>/dev/null)
    case $ns in
    [0-9][0-9][0-9]*) ms=${ns%"${ns#???}"} ;;
    *) ms=000 ;;
    esac
    printf '%s.%sZ' "$(date -u +%Y-%m-%dT%H:%M:%S)" "$ms"
}

while [ "$count" -eq 0 ] || [ "$n" -lt "$count" ]; do
    n=$((n + 1))
    ts=$(now_iso)
    ms=${ts#*.}
    ms=$((1${ms%Z} - 1000))
    seed=$(((n * 7919 + ms * 104729 + $$) % 2147483647))
    # awk picks the event and prints: <stream> <sleep seconds> <log line>
    out=$(awk -v ts="$ts" -v fmt="$format" -v svc="$service" -v rate="$rate" \
        -v seed="$seed" 'BEGIN {
        srand(seed)
        if (svc == "ai") {
            ntags = split("AIController OpenAIClient EmbeddingService PromptCache", tags, " ")
            nother = split("Model warmed up|Prompt cache refreshed|Embedding batch flushed", other, "|")
        } else {
            ntags = split("TasksController TaskScheduler ReminderJob TaskRepository", tags, " ")
            nother = split("Reminder job finished|Task queue drained|Scheduler tick", other, "|")
        }
        tag = tags[int(rand() * ntags) + 1]
        rid = sprintf("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", r16(), r16(), r16(), \
            int(rand() * 4096), 32768 + int(rand() * 16384), r16(), r16(), r16())
        err = ""; ctx = 1
        p = rand()
        if (p < 0.70) {
            level = "INFO"; msg = "Request completed"
            split("200 200 200 201 204", codes, " "); status = codes[int(rand() * 5) + 1]
            dur = 15 + int(rand() * 400)
        } else if (p < 0.78) {
            level = "INFO"; msg = other[int(rand() * nother) + 1]; ctx = 0
        } else if (p < 0.88) {
            level = "WARN"; msg = "Request completed slowly"; status = 200
            dur = 1000 + int(rand() * 4000)
        } else if (p < 0.92) {
            level = "WARN"; msg = "Request rate limited"; status = 429
            dur = 2 + int(rand() * 20)
        } else {
            level = "ERROR"; msg = "Request failed"
            split("500 502 503 504", codes, " "); status = codes[int(rand() * 4) + 1]
            dur = 50 + int(rand() * 9000)
            split("Error: upstream timeout|Error: connect ECONNREFUSED 10.0.0.7:5432|TypeError: Cannot read properties of undefined (reading '\''id'\'')", errs, "|")
            err = errs[int(rand() * 3) + 1]
        }
        context = ""
        if (ctx) context = sprintf("{\"requestId\":\"%s\",\"statusCode\":%d,\"durationMs\":%d}", rid, status, dur)
        if (fmt == "json") {
            line = sprintf("{\"timestamp\":\"%s\",\"level\":\"%s\",\"tag\":\"%s\",\"message\":\"%s\"", ts, level, tag, msg)
            if (context != "") line = line ",\"context\":" context
            if (err != "") line = line ",\"error\":\"" err "\""
            line = line "}"
        } else {
            line = sprintf("[%s] [%s] [%s]: %s", ts, level, tag, msg)
            if (err != "") line = line " " err
            if (context != "") line = line " " context
        }
        stream = (level == "INFO") ? "stdout" : "stderr"
        # Exponential gaps with the requested mean rate, capped at 5 s.
        gap = -log(1 - rand()) / rate
        if (gap > 5) gap = 5
        printf "%s %.2f %s\n", stream, gap, line
    }
    function r16() { return int(rand() * 65536) }')
    stream=${out%% *}
    rest=${out#* }
    gap=${rest%% *}
    line=${rest#* }
    if [ "$stream" = stderr ]; then
        printf '%s\n' "$line" >&2
    else
        printf '%s\n' "$line"
    fi
    sleep "$gap"
done
