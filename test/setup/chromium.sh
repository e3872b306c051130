#!/usr/bin/env bash
# What `npm test` runs second: ONE line saying whether the dashboard's browser tests run.
# They drive Debian's Chromium (/usr/bin/chromium) with playwright-core; without it they are
# skipped, except under CI=true, where a missing Chromium fails the run here (.ci/run installs it).
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  echo "dashboard tests: Chromium at /usr/bin/chromium"
elif [[ ${CI:-} == true ]]; then
  echo "dashboard tests: no Chromium at /usr/bin/chromium, and CI=true requires them: 'apt-get install chromium'"
  exit 1
else
  echo "dashboard tests skipped: no Chromium here; 'apt-get install chromium' (as root) installs it"
fi
