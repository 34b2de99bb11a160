# Sourced by the scripts that run a release ferry-server on 127.0.0.1 while they measure
# or draw something: starts it, waits for `/healthz`, and stops it by its PID.
#
#   serve_start PORT LOG [ARGS...]   runs "$SERVER" --listen 127.0.0.1:PORT ARGS, output to
#                                    LOG; exits the script with the log shown if it never
#                                    answers (10 s)
#   serve_stop                       stops it (nothing if none runs); call it from the
#                                    script's EXIT trap too

SERVER_PID=""

serve_start() {
    local port="$1" log="$2"
    shift 2
    "$SERVER" --listen "127.0.0.1:$port" "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$log" >&2
    exit 1
}

serve_stop() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
