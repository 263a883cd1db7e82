#!/usr/bin/env bash
# The one test command: installs what it needs, starts its own services on free ports, runs every
# check, and stops what it started. Works from a fresh clone on a fresh machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

started=()
cleanup() {
  for pid in "${started[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# --- Tools -----------------------------------------------------------------------------------
step "Python tools (moto server, cfn-lint) in .venv"
venv="$root/.venv"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum infra/requirements-test.txt | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r infra/requirements-test.txt
  echo "$wanted" > "$stamp"
fi

step "Chromium and ChromeDriver (the browser test)"
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
  sudo=""
  if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi
/usr/bin/chromium --version

# --- Static checks ---------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "No unused dependencies (cargo-machete)"
tools="$root/.tools"
if [[ ! -x "$tools/bin/cargo-machete" ]]; then
  cargo install --quiet --locked --root "$tools" cargo-machete@0.9.2
fi
"$tools/bin/cargo-machete"

step "The Lambda functions compile no embedded store"
for function in outpost-entry outpost-authorizer outpost-apex outpost-sync outpost-app outpost-send; do
  if cargo tree --locked -p "$function" -e normal --prefix none | grep -q '^fjall '; then
    echo "$function depends on fjall: the embedded store is for the local stack and tests only" >&2
    exit 1
  fi
done

step "cfn-lint template.yaml"
"$venv/bin/cfn-lint" template.yaml

# SAM CLI makes no AWS call for these: the developer's AWS config and credentials are kept out, so
# a missing profile cannot fail them and no real account is touched. Its weekly version check
# (PyPI, 5 s timeout) fails silently offline.
sam_offline() {
  env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    SAM_CLI_TELEMETRY=0 "$venv/bin/sam" "$@"
}

step "sam validate --lint"
sam_offline validate --lint --region us-east-1 --template-file template.yaml

# --lint only runs cfn-lint (the same version, above); this runs the SAM transform itself, which
# cfn-lint no longer does (it checks SAM resources against schemas).
step "sam validate (the SAM transform)"
sam_offline validate --region us-east-1 --template-file template.yaml

step "Salesforce package: apex-ls, PMD and AppExchange rules, sf project convert, metadata checks"
infra/salesforce/check.sh

# --- Services --------------------------------------------------------------------------------
step "moto server (DynamoDB, Secrets Manager, S3)"
moto_port="$(free_port)"
# One request at a time: moto's backends are not thread-safe (infra/moto/serial_server.py).
"$venv/bin/python" infra/moto/serial_server.py -H 127.0.0.1 -p "$moto_port" > "${TMPDIR:-/tmp}/outpost-moto-$moto_port.log" 2>&1 &
started+=("$!")
python3 - "$moto_port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/moto-api/"
for _ in range(150):
    try:
        urllib.request.urlopen(url, timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(f"moto server did not start on {url}")
PY
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
echo "moto on $AWS_ENDPOINT_URL"

# --- Tests -----------------------------------------------------------------------------------
step "cargo build -p outpost-local (the CLI test runs this binary)"
cargo build -p outpost-local --locked

step "cargo test (unit, store contract on both adapters, end-to-end)"
cargo test --workspace --locked

step "all checks passed"
