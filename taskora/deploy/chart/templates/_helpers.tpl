{{/*
Chart name, or nameOverride. Kubernetes names built from it are DNS labels,
which RFC 1123 limits to 63 characters, so every name here is cut to 63.
*/}}
{{- define "taskora.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of every resource of the release: fullnameOverride, or the release name
followed by the chart name unless the release name already contains it.
Cut to 63 characters (the DNS label limit) without a trailing hyphen.
*/}}
{{- define "taskora.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Value of the helm.sh/chart label. A label value is limited to 63 characters and
"+" is not allowed in it, although SemVer build metadata uses it.
*/}}
{{- define "taskora.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the release's pods. They must never change after the first
install, because a Deployment's selector is immutable.
*/}}
{{- define "taskora.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskora.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Recommended app.kubernetes.io labels of every resource of the release.
*/}}
{{- define "taskora.labels" -}}
helm.sh/chart: {{ include "taskora.chart" . }}
{{ include "taskora.selectorLabels" . }}
app.kubernetes.io/version: {{ include "taskora.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: taskora
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Image tag in use: image.tag, or the chart's appVersion when it is empty.
*/}}
{{- define "taskora.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
Full image reference, repository:tag.
*/}}
{{- define "taskora.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "taskora.imageTag" .) }}
{{- end }}

{{/*
SQLAlchemy URL of the database, without a password: the service adds the password
from TASKORA_DATABASE_PASSWORD and selects the psycopg 3 driver for postgresql://.
*/}}
{{- define "taskora.databaseUrl" -}}
{{- $db := .Values.database }}
{{- printf "postgresql://%s@%s:%d/%s?sslmode=%s" $db.user $db.host (int $db.port) $db.name $db.sslMode }}
{{- end }}
