#!/usr/bin/env bash
# Debian packages the test suite's real services need (one name a line in
# ops/system_packages.txt; '#' starts a comment). Installs what is missing when run as root
# (CI, a fresh machine); otherwise prints the apt-get line to run. Idempotent and quiet when
# everything is there. Called by `make test` and `make demo` before the venv is used.
set -euo pipefail
cd "$(dirname "$0")/.."
list=ops/system_packages.txt
[ -f "$list" ] || exit 0
missing=()
while read -r pkg _; do
  [ -z "$pkg" ] && continue
  case "$pkg" in \#*) continue ;; esac
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < "$list"
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "calcisvd: Debian packages missing for the service tests: ${missing[*]}" >&2
  echo "  install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
echo "calcisvd: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# services must not start themselves on install: the tests start them on 127.0.0.1 and stop them
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
[ "$created_policy" -eq 1 ] && rm -f "$policy"
exit 0
