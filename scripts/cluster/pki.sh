# Sourced by scripts/cluster.sh: the cluster's certificates, made with openssl under .cluster/pki.
# One CA signs every serving and client certificate; a separate key pair signs ServiceAccount tokens.

# cert NAME SUBJECT EXT  — key + certificate signed by the CA; EXT is an openssl extension section
cert() {
  local name="$1" subj="$2" ext="$3"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" \
    -out "$PKI/$name.csr" 2>/dev/null
  printf '%b\n' "$ext" > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null \
    || die "openssl could not sign the $name certificate"
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

client_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth'

make_pki() {
  local nodes="$1" n
  mkdir -p "$PKI"; chmod 700 "$PKI"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -days 30 \
    -subj "/CN=gantry-cluster-$CLUSTER_ID-ca" -out "$PKI/ca.crt" 2>/dev/null || die "openssl could not make the CA"
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:$HOST_IP,IP:$API_SVC_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # the apiserver's identity towards kubelets (logs, exec, port-forward)
  cert apiserver-kubelet "/CN=kube-apiserver-kubelet-client/O=system:masters" "$client_ext"
  cert admin "/CN=gantry-admin/O=system:masters" "$client_ext"
  cert controller-manager "/CN=system:kube-controller-manager" "$client_ext"
  cert scheduler "/CN=system:kube-scheduler" "$client_ext"
  cert kube-proxy "/CN=system:kube-proxy" "$client_ext"
  for n in $(seq 1 "$nodes"); do
    # one certificate per node: the kubelet's client identity (Node authorizer) and its serving cert
    cert "$(node_name "$n")" "/CN=system:node:$(node_name "$n")/O=system:nodes" \
      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:$(node_ip "$n"),DNS:$(node_name "$n")"
  done
  chmod 600 "$PKI"/*.key
}

# kubeconfig FILE NAME SERVER — a kubeconfig with the client cert NAME.crt/.key, paths embedded
kubeconfig() {
  local file="$1" name="$2" server="$3"
  cat > "$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: gantry
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$name.crt")
    client-key-data: $(base64 -w0 "$PKI/$name.key")
contexts:
- name: gantry
  context: {cluster: gantry, user: $name}
current-context: gantry
KC
  chmod 600 "$file"
}
