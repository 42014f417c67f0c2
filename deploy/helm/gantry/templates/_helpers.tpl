{{/* Labels Helm adds beside deploy/base's own (metadata only: selectors, which are immutable, and
pod templates stay as in deploy/base, so an install made with `kubectl apply -k` is adopted in
place, no pod replaced: test/deploy/helm-adopt.test.ts). */}}
{{- define "gantry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gantry.image" -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The NATS servers' client URLs, one per StatefulSet replica: agents, hosts and the controller fail over between them. */}}
{{- define "gantry.natsUrls" -}}
{{- $urls := list }}
{{- range $i := until (int .Values.nats.replicas) }}
{{- $urls = append $urls (printf "tls://gantry-nats-%d.gantry-nats-headless.gantry-system.svc:4222" $i) }}
{{- end }}
{{- join "," $urls }}
{{- end }}

{{/* nodeSelector, tolerations and affinity of one component's pod spec (6 spaces deep). */}}
{{- define "gantry.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
