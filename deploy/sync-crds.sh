#!/usr/bin/env bash
# Copies the generated CRDs (crds/, generated from api/) into the kustomize base and the Helm
# chart. Kustomize refuses files outside a base's folder and Helm outside a chart's, so deploy/
# keeps copies; test/deploy fails when a copy differs from crds/, and this script is the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f deploy/base/crds/*.yaml
cp crds/*.yaml deploy/base/crds/
rm -f deploy/helm/gantry/files/crds/*.yaml
cp crds/*.yaml deploy/helm/gantry/files/crds/
echo "deploy/base/crds and deploy/helm/gantry/files/crds updated from crds/"
