{{/* The labels of every object: the kustomize base's pair (app.kubernetes.io/name, part-of) and
Helm's own. */}}
{{- define "esk8s.labels" -}}
app.kubernetes.io/name: {{ .Values.name }}
app.kubernetes.io/part-of: esk8s
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The labels of the `helm test` objects: never the members' app.kubernetes.io/name, which the
Services, the PDB and the members' anti-affinity select (the doctor's pod would be an endpoint,
count against the budget, and find no Node). */}}
{{- define "esk8s.doctorLabels" -}}
app.kubernetes.io/name: {{ .Values.name }}-doctor
app.kubernetes.io/component: doctor
app.kubernetes.io/part-of: esk8s
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The pods' selector: the name only, as the base's (a StatefulSet's selector cannot change). */}}
{{- define "esk8s.selector" -}}
app.kubernetes.io/name: {{ .Values.name }}
{{- end -}}

{{/* The member namespaces as JSON: [{"name": NS, "replicas": N}], the release's namespace with
.Values.replicas unless multiNamespace.enabled. */}}
{{- define "esk8s.namespaces" -}}
{{- if .Values.multiNamespace.enabled -}}
{{- toJson .Values.multiNamespace.namespaces -}}
{{- else -}}
{{- toJson (list (dict "name" .Release.Namespace "replicas" .Values.replicas)) -}}
{{- end -}}
{{- end -}}

{{/* ESK8S_CLUSTER_SIZE: clusterSize, else the sum of the replicas. */}}
{{- define "esk8s.clusterSize" -}}
{{- if .Values.clusterSize -}}
{{- .Values.clusterSize -}}
{{- else -}}
{{- $sum := 0 -}}
{{- range (include "esk8s.namespaces" . | fromJsonArray) -}}
{{- $sum = add $sum .replicas -}}
{{- end -}}
{{- $sum -}}
{{- end -}}
{{- end -}}

{{/* ESK8S_READY_MODE: readyMode, else auto with API discovery and, without the API, what auto
would pick from the pod management policy. */}}
{{- define "esk8s.readyMode" -}}
{{- if .Values.readyMode -}}
{{- .Values.readyMode -}}
{{- else if eq .Values.discovery "kubernetes" -}}
auto
{{- else if eq .Values.podManagementPolicy "Parallel" -}}
quorum
{{- else -}}
bootstrap-latch
{{- end -}}
{{- end -}}

{{/* The disruption Lease of a multi-namespace cluster: "namespace/name". */}}
{{- define "esk8s.disruptionLeaseNamespace" -}}
{{- .Values.multiNamespace.disruptionLease.namespace | default (first .Values.multiNamespace.namespaces).name -}}
{{- end -}}
{{- define "esk8s.disruptionLeaseName" -}}
{{- .Values.multiNamespace.disruptionLease.name | default (printf "esk8s-disruption-%s" .Values.name) -}}
{{- end -}}

{{/* Whether the client Service's names go into the certificates. */}}
{{- define "esk8s.clientServiceNames" -}}
{{- if kindIs "bool" .Values.tls.clientServiceNames -}}
{{- .Values.tls.clientServiceNames -}}
{{- else -}}
{{- ne .Values.tls.mode "kubernetes-csr" -}}
{{- end -}}
{{- end -}}

{{/* Combinations the schema cannot express, refused with the value to change. */}}
{{- define "esk8s.validate" -}}
{{- $names := list -}}
{{- if .Values.multiNamespace.enabled -}}
{{- range .Values.multiNamespace.namespaces -}}
{{- if has .name $names -}}
{{- fail (printf "multiNamespace.namespaces: namespace %q is listed twice; list each member namespace once" .name) -}}
{{- end -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- if lt (len $names) 2 -}}
{{- fail "multiNamespace.namespaces: list at least two namespaces with multiNamespace.enabled (one namespace: set multiNamespace.enabled=false and replicas)" -}}
{{- end -}}
{{- if and (eq .Values.discovery "dns") -}}
{{- fail "discovery=dns with multiNamespace.enabled: DNS discovery reads only the headless Service of the members' own namespace; use discovery=kubernetes" -}}
{{- end -}}
{{- $lease := include "esk8s.disruptionLeaseNamespace" . -}}
{{- if not (has $lease $names) -}}
{{- fail (printf "multiNamespace.disruptionLease.namespace: %q is not one of the member namespaces %s" $lease (join ", " $names)) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.discovery "dns") (eq (toString .Values.readyMode) "auto") -}}
{{- fail "readyMode=auto with discovery=dns: auto reads the StatefulSet through the API, which DNS discovery does not use; set readyMode to quorum (podManagementPolicy Parallel) or bootstrap-latch (OrderedReady), or leave it null" -}}
{{- end -}}
{{- if and (eq (toString .Values.readyMode) "quorum") (eq .Values.podManagementPolicy "OrderedReady") -}}
{{- fail "readyMode=quorum with podManagementPolicy=OrderedReady: after a full restart pod-1 waits for pod-0 to be Ready and pod-0 for a quorum, so the cluster never starts; use bootstrap-latch or auto, or Parallel" -}}
{{- end -}}
{{- end -}}

{{/* The members' anti-affinity term; with multiNamespace it names every member namespace (a term
without namespaces sees only its own). */}}
{{- define "esk8s.antiAffinityTerm" -}}
labelSelector:
  matchLabels:
    app.kubernetes.io/name: {{ .Values.name }}
{{- if .Values.multiNamespace.enabled }}
namespaces:
  {{- range .Values.multiNamespace.namespaces }}
  - {{ .name }}
  {{- end }}
{{- end }}
topologyKey: kubernetes.io/hostname
{{- end -}}
