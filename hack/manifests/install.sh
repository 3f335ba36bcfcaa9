#!/usr/bin/env bash
# Installs what the manifest checks need (called by `make test-deps` after hack/install-deps.sh):
# node and npm (Debian packages nodejs npm, when missing), the npm packages of package-lock.json
# (npm ci, only when node_modules is missing or was installed from another package-lock.json),
# and checks that kubectl (with kustomize v5) is there: Debian 12 has no usable kubectl package.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "manifests: installing nodejs npm (node and npm run hack/manifests/check.mjs)"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if (( major < 18 )); then
  echo "manifests: node $(node --version) is too old: hack/manifests needs node >= 18" >&2
  exit 1
fi

stamp="$here/node_modules/.nfsprov-package-lock.json"
if ! cmp -s "$here/package-lock.json" "$stamp"; then
  echo "manifests: npm ci in hack/manifests"
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
  cp "$here/package-lock.json" "$stamp"
fi

if ! command -v kubectl >/dev/null; then
  echo "manifests: kubectl not found. The manifest checks render deploy/ with \`kubectl kustomize\`" \
       "(kubectl >= 1.27, kustomize v5); Debian 12's kubernetes-client (1.20) is too old." \
       "Install kubectl: https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/" >&2
  exit 1
fi
