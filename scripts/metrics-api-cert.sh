#!/usr/bin/env bash
# The external metrics API's serving certificate (deploy/components/hpa-metrics):
#   scripts/metrics-api-cert.sh [DIR]
# makes a CA and a certificate for gantry-metrics-api.gantry-system.svc in DIR (default
# ./metrics-api-pki; the CA key stays there, never in the cluster), creates or replaces the
# Secret gantry-system/gantry-metrics-api-tls, and writes the CA into the APIService's
# caBundle, so the aggregator verifies the controller. Uses kubectl's current context.
set -euo pipefail
dir="${1:-./metrics-api-pki}"
ns=gantry-system
svc=gantry-metrics-api
mkdir -p "$dir" && chmod 700 "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
if [ ! -s "$dir/ca.crt" ]; then
  openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 3650 -subj "/CN=gantry-metrics-api-ca" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
fi
openssl req "${ec[@]}" -keyout "$dir/tls.key" -out "$dir/tls.csr" -subj "/CN=$svc.$ns.svc" 2>/dev/null
printf 'subjectAltName=DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n' \
  "$svc" "$ns" "$svc" "$ns" >"$dir/tls.ext"
openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -out "$dir/tls.crt" -days 365 -extfile "$dir/tls.ext" 2>/dev/null
chmod 600 "$dir"/*.key
kubectl -n "$ns" create secret tls gantry-metrics-api-tls --cert="$dir/tls.crt" --key="$dir/tls.key" --dry-run=client -o yaml | kubectl apply -f -
kubectl patch apiservice v1beta1.external.metrics.k8s.io --type=merge -p "{\"spec\":{\"caBundle\":\"$(base64 -w0 <"$dir/ca.crt")\"}}"
echo "metrics-api-cert: Secret $ns/gantry-metrics-api-tls and the APIService's caBundle written (CA in $dir)" >&2
