#!/usr/bin/env bash
# make demo: the AWS stand-in, demo data, and the portal, all on this machine.
# Ctrl-C stops everything this script started (and exits 0: no make error).
#
# Ports, when the defaults are taken:
#   PARKWAY_DEMO_WEB_PORT  the portal (default 8000)
#   PARKWAY_DEMO_AWS_PORT  the AWS stand-in (default 5055)
# e.g. `make demo PARKWAY_DEMO_WEB_PORT=8001 PARKWAY_DEMO_AWS_PORT=5056`.
#
# While it runs, `.demo/manage.sh COMMAND` runs any manage.py command against
# it (the same database, keys and AWS stand-in; .demo/env holds the settings).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DEMO_DIR=.demo
AWS_PORT=${PARKWAY_DEMO_AWS_PORT:-5055}
WEB_PORT=${PARKWAY_DEMO_WEB_PORT:-8000}
mkdir -p "$DEMO_DIR"

# Keys for this laptop only, generated once and never committed.
[ -s "$DEMO_DIR/encryption.key" ] || $PY -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > "$DEMO_DIR/encryption.key"
[ -s "$DEMO_DIR/secret.key" ] || $PY -c 'import secrets; print(secrets.token_urlsafe(50))' > "$DEMO_DIR/secret.key"

export DEBUG=true
export SECRET_KEY="$(cat "$DEMO_DIR/secret.key")"
export PARKWAY_ENCRYPTION_KEYS="$(cat "$DEMO_DIR/encryption.key")"
export DATABASE_URL="sqlite:///$PWD/$DEMO_DIR/demo.sqlite3"
export PARKWAY_AWS_ACCOUNT_ID=123456789012   # the stand-in's default account plays Parkway's own
export AWS_ENDPOINT_URL="http://127.0.0.1:$AWS_PORT"
export PARKWAY_TICK_MINUTES=1 Q_WORKERS=1 Q_TIMEOUT=120 Q_RETRY=150   # parking visible within minutes; one worker suits SQLite
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN || true

# The same settings for manage.py commands run by hand in another terminal.
DEMO_VARS=(DEBUG SECRET_KEY PARKWAY_ENCRYPTION_KEYS DATABASE_URL PARKWAY_AWS_ACCOUNT_ID AWS_ENDPOINT_URL
  PARKWAY_TICK_MINUTES Q_WORKERS Q_TIMEOUT Q_RETRY AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION)
(
  umask 077
  { echo "# make demo's settings (keys for this laptop only): . .demo/env"
    for var in "${DEMO_VARS[@]}"; do printf 'export %s=%q\n' "$var" "${!var}"; done
    echo "unset AWS_PROFILE AWS_SESSION_TOKEN"; } > "$DEMO_DIR/env"
  printf '#!/usr/bin/env bash\n# manage.py against the running demo: .demo/manage.sh COMMAND [ARGS...]\ncd "$(dirname "$0")/.." && . .demo/env && exec .venv/bin/python manage.py "$@"\n' > "$DEMO_DIR/manage.sh"
  chmod +x "$DEMO_DIR/manage.sh"
)

pids=()
cleanup() {
  trap - EXIT INT TERM
  # Each service runs in its own process group (setsid): the worker forks
  # processes of its own, and all of them must go. Politely first; the worker
  # can hang on shutdown once its children are gone, so not forever.
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  echo "Demo stopped."
}
# Ctrl-C is how the demo ends, not a failure: stop the children and exit 0, so
# that make does not report an error.
trap cleanup EXIT
trap 'echo; cleanup; exit 0' INT TERM

# The stand-in keeps its state in memory, so the database starts fresh with it.
rm -f "$DEMO_DIR/demo.sqlite3"
setsid $PY -m portal.aws_standin --host 127.0.0.1 --port "$AWS_PORT" > "$DEMO_DIR/aws-standin.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do
  $PY -c "import urllib.request,sys; urllib.request.urlopen('$AWS_ENDPOINT_URL/_standin/calls', timeout=1)" 2>/dev/null && break
  sleep 0.2
done

$PY manage.py migrate --verbosity 0
$PY manage.py seed_demo | tee "$DEMO_DIR/login.txt"
$PY manage.py setup_schedules

setsid $PY manage.py qcluster > "$DEMO_DIR/worker.log" 2>&1 &
pids+=($!)

echo
echo "Parkway demo: http://127.0.0.1:$WEB_PORT/admin/  (AWS stand-in on $AWS_ENDPOINT_URL)"
echo "In admin, select the three accounts and run \"Test connection\"."
echo "Watch Parking runs: within ~3 minutes Acme's us-east-1 machines, its database acme-orders, its Aurora cluster"
echo "acme-analytics and its Auto Scaling group acme-web (to 0/0/0) are parked; within ~5 Globex's machines are started"
echo "(worker log: $DEMO_DIR/worker.log). Ctrl-C stops everything."
echo
echo "manage.py against this demo, from another terminal in $PWD:"
echo "  $DEMO_DIR/manage.sh run_parking --dry-run"
echo "  (the same as: (. $DEMO_DIR/env && $PY manage.py run_parking --dry-run))"
echo "Ports: PARKWAY_DEMO_WEB_PORT=$WEB_PORT, PARKWAY_DEMO_AWS_PORT=$AWS_PORT (e.g. make demo PARKWAY_DEMO_WEB_PORT=8001)."
setsid $PY manage.py runserver "127.0.0.1:$WEB_PORT" --noreload &
pids+=($!)
wait -n "${pids[@]}"
