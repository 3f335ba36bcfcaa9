#!/usr/bin/env bash
# Installs the Debian 12 packages nfsprov needs to build, test and run.
#
#   hack/install-deps.sh                  every section: a dev or CI machine (what `make test` needs)
#   hack/install-deps.sh build            only [build] (the Dockerfile's build stage)
#   hack/install-deps.sh runtime          only [runtime] (the container image)
#   hack/install-deps.sh build test       several sections
#
# Idempotent: does nothing (not even apt-get update) when everything is present.
# The package list lives in hack/packages.txt, in sections ([build], [test], [runtime]): the one
# source of truth (the Dockerfile calls this script with a section).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list="$here/packages.txt"

mapfile -t known < <(sed -nE 's/^\s*\[([a-z0-9_-]+)\]\s*$/\1/p' "$list")
sections=("$@")
if [[ ${#sections[@]} -eq 0 ]]; then sections=("${known[@]}"); fi
for s in "${sections[@]}"; do
  if ! printf '%s\n' "${known[@]}" | grep -qxF -- "$s"; then
    echo "install-deps: unknown section '$s' (hack/packages.txt has: ${known[*]})" >&2
    exit 2
  fi
done

# The packages of the chosen sections: lines after a chosen [section] header, without comments.
mapfile -t wanted < <(awk -v want=" ${sections[*]} " '
  /^[ \t]*\[[a-z0-9_-]+\][ \t]*$/ { s = $0; gsub(/[][ \t]/, "", s); on = index(want, " " s " ") > 0; next }
  /^[ \t]*(#|$)/ { next }
  on { print $1 }' "$list" | sort -u)

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
