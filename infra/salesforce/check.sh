#!/usr/bin/env bash
# Offline checks for the Outpost Salesforce project. Apex cannot run outside an org, so this
# verifies what can be verified here:
#   (a) installs prettier + prettier-plugin-apex (pinned in package-lock.json) if missing;
#   (b) parses every .cls and .trigger with the Apex parser (syntax, not formatting);
#   (c) checks every *.xml / *-meta.xml is well-formed;
#   (d) checks the custom links, web tab and formula field carry {!$User.Id}, {!$Organization.Id},
#       {!$Api.Session_ID}, {!$Api.Partner_Server_URL_640} and no URLENCODE, plus cross-references.
# Run from anywhere: infra/salesforce/check.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

failed=()

tools_match_lockfile() {
  [[ -d node_modules/prettier && -d node_modules/prettier-plugin-apex ]] || return 1
  node -e '
    const want = require("./package.json").devDependencies;
    for (const name of Object.keys(want)) {
      if (require(`./node_modules/${name}/package.json`).version !== want[name]) process.exit(1);
    }
  ' 2>/dev/null
}

echo "== (a) tools"
if tools_match_lockfile; then
  echo "prettier $(node -p 'require("./node_modules/prettier/package.json").version'), prettier-plugin-apex $(node -p 'require("./node_modules/prettier-plugin-apex/package.json").version') already installed"
elif [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi

echo "== (b) Apex parse"
mapfile -t apex_files < <(find force-app -type f \( -name '*.cls' -o -name '*.trigger' \) | sort)
if [[ ${#apex_files[@]} -eq 0 ]]; then
  echo "no Apex sources found" >&2
  failed+=("apex parse")
elif ! node scripts/parse-apex.mjs "${apex_files[@]}"; then
  failed+=("apex parse")
fi

echo "== (c, d) metadata XML, entry points, references"
if ! python3 scripts/check_metadata.py; then
  failed+=("metadata")
fi

echo "=="
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "check.sh: FAILED (${failed[*]})"
  exit 1
fi
echo "check.sh: all checks passed (${#apex_files[@]} Apex files parsed)"
