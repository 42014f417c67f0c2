# Sourced by scripts/cluster.sh: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# all on the host. kube-apiserver binds the bridge address so nodes and pods reach it (the in-cluster
# `kubernetes` Service points at it through the normal lease endpoint reconciler); etcd and the
# controllers' own ports stay on loopback.
KCM_PORT=$((32400 + CLUSTER_ID * 2))
SCHED_PORT=$((KCM_PORT + 1))

control_up() {
  local cp="$1" parts="$2"
  mkdir -p "$STATE/etcd"
  start etcd "$cp/etcd" --name gantry --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "gantry=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn
  wait_for "etcd to be healthy" 30 etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  start kube-apiserver "$cp/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$HOST_IP" --advertise-address "$HOST_IP" --secure-port "$API_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet.crt" --kubelet-client-key "$PKI/apiserver-kubelet.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-signing-key-file "$PKI/sa.key" --service-account-key-file "$PKI/sa.pub" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true --profiling=false
  wait_for "kube-apiserver to be ready" 60 kube-apiserver \
    curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://$HOST_IP:$API_PORT/readyz"

  # nodeipam is off: each node's pod CIDR is fixed by this script (CNI config and routes), and a
  # stopped kubelet makes its node NotReady after 20 s (--node-monitor-grace-period)
  start kube-controller-manager "$parts/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
    --use-service-account-credentials --service-account-private-key-file "$PKI/sa.key" \
    --root-ca-file "$PKI/ca.crt" --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --controllers '*,-nodeipam' --node-monitor-period 2s --node-monitor-grace-period 20s \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$CLUSTER_CIDR" --profiling=false
  start kube-scheduler "$cp/kube-scheduler" \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false --profiling=false
}
