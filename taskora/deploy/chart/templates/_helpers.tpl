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
Labels that select the service's pods. They must never change after the first install,
because a Deployment's selector is immutable. The component label keeps the selector
off the pods of the in-cluster PostgreSQL and Redis.
*/}}
{{- define "taskora.selectorLabels" -}}
{{ include "taskora.componentSelectorLabels" (dict "root" . "component" "api") }}
{{- end }}

{{/*
Recommended app.kubernetes.io labels of every resource of the release.
*/}}
{{- define "taskora.labels" -}}
helm.sh/chart: {{ include "taskora.chart" . }}
{{ include "taskora.selectorLabels" . }}
app.kubernetes.io/version: {{ include "taskora.appVersionLabel" . }}
app.kubernetes.io/part-of: taskora
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Value of the app.kubernetes.io/version label: the chart's appVersion, quoted and cut to
63 characters. It is not the image tag, so a new tag changes only the pod template and
not the labels of every resource (which would make every resource differ in a diff).
*/}}
{{- define "taskora.appVersionLabel" -}}
{{- .Chart.AppVersion | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
{{- end }}

{{/*
The imagePullSecrets of a pod spec. Each entry of imagePullSecrets is a Secret name or,
as in a pod spec, a mapping with a `name`.
*/}}
{{- define "taskora.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  {{- if kindIs "map" . }}
  - name: {{ .name }}
  {{- else }}
  - name: {{ . }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
Image tag in use: image.tag, or the chart's appVersion when it is empty.
*/}}
{{- define "taskora.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
Full image reference: repository@digest when a digest is set, otherwise repository:tag.
*/}}
{{- define "taskora.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "taskora.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount the pods run as.
*/}}
{{- define "taskora.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "taskora.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Annotations of the ServiceAccounts, as YAML: serviceAccount.annotations, plus AKS's
azure.workload.identity/client-id taken from azureKeyVault.clientId when Key Vault is on,
so that the client ID is written once for both the pods' identity and the Key Vault driver.
*/}}
{{- define "taskora.serviceAccountAnnotations" -}}
{{- $annotations := deepCopy (.Values.serviceAccount.annotations | default dict) }}
{{- if and .Values.azureKeyVault.enabled .Values.azureKeyVault.clientId }}
{{- $_ := set $annotations "azure.workload.identity/client-id" .Values.azureKeyVault.clientId }}
{{- end }}
{{- with $annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
Name of a component of the release, such as "taskora-postgresql", cut to 63 characters.
*/}}
{{- define "taskora.componentName" -}}
{{- printf "%s-%s" (include "taskora.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of one component of the release: the common labels with its own
app.kubernetes.io/component. Called with a dict of "root" and "component".
*/}}
{{- define "taskora.componentLabels" -}}
helm.sh/chart: {{ include "taskora.chart" .root }}
{{ include "taskora.componentSelectorLabels" . }}
app.kubernetes.io/version: {{ include "taskora.appVersionLabel" .root }}
app.kubernetes.io/part-of: taskora
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/*
Selector labels of one component of the release.
*/}}
{{- define "taskora.componentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "taskora.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Address of the database the service uses: the Cloud SQL Auth Proxy on the loopback
interface, the in-cluster PostgreSQL, or database.host. Returns "HOST PORT SSLMODE".
*/}}
{{- define "taskora.databaseEndpoint" -}}
{{- if .Values.cloudSqlProxy.enabled }}
{{- printf "127.0.0.1 %d disable" (int .Values.cloudSqlProxy.port) }}
{{- else if .Values.inClusterPostgresql.enabled }}
{{- printf "%s 5432 disable" (include "taskora.componentName" (dict "root" . "component" "postgresql")) }}
{{- else }}
{{- printf "%s %d %s" .Values.database.host (int .Values.database.port) .Values.database.sslMode }}
{{- end }}
{{- end }}

{{/*
SQLAlchemy URL of the database, without a password: the service adds the password
from TASKORA_DATABASE_PASSWORD and selects the psycopg 3 driver for postgresql://.
*/}}
{{- define "taskora.databaseUrl" -}}
{{- $endpoint := splitList " " (include "taskora.databaseEndpoint" .) }}
{{- $db := .Values.database }}
{{- printf "postgresql://%s@%s:%s/%s?sslmode=%s" $db.user (index $endpoint 0) (index $endpoint 1) $db.name (index $endpoint 2) }}
{{- end }}

{{/*
Redis address (host:port) for the Dapr components: the in-cluster Redis or redis.host.
*/}}
{{- define "taskora.redisAddress" -}}
{{- if .Values.inClusterRedis.enabled }}
{{- printf "%s:6379" (include "taskora.componentName" (dict "root" . "component" "redis")) }}
{{- else }}
{{- printf "%s:%d" .Values.redis.host (int .Values.redis.port) }}
{{- end }}
{{- end }}

{{/*
Whether the Dapr components reach Redis over TLS. The in-cluster Redis has no TLS.
*/}}
{{- define "taskora.redisTls" -}}
{{- and .Values.redis.tls (not .Values.inClusterRedis.enabled) | toString }}
{{- end }}

{{/*
Name of the Dapr Configuration in dapr.io/config: dapr.config, else the chart's own
Configuration when it is created, else empty.
*/}}
{{- define "taskora.daprConfigName" -}}
{{- if .Values.dapr.config }}
{{- .Values.dapr.config }}
{{- else if .Values.dapr.configuration.create }}
{{- include "taskora.fullname" . }}
{{- end }}
{{- end }}

{{/*
Whether pods apply migrations at start: always with the in-cluster PostgreSQL, which
does not exist yet when a pre-install hook would run, else config.migrateOnStart.
*/}}
{{- define "taskora.migrateOnStart" -}}
{{- or .Values.config.migrateOnStart .Values.inClusterPostgresql.enabled | toString }}
{{- end }}

{{/*
Settings of the service as name/value pairs, shared by the ConfigMap of the Deployment
and the env of the migration Job (a pre-install hook runs before the ConfigMap exists).
*/}}
{{- define "taskora.settings" -}}
TASKORA_PORT: {{ .Values.containerPort | toString | quote }}
TASKORA_DATABASE_URL: {{ include "taskora.databaseUrl" . | quote }}
TASKORA_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
TASKORA_SSE_PING_SECONDS: {{ .Values.config.ssePingSeconds | toString | quote }}
TASKORA_MIGRATE_ON_START: {{ include "taskora.migrateOnStart" . | quote }}
TASKORA_DAPR: {{ .Values.dapr.enabled | toString | quote }}
{{- if .Values.dapr.enabled }}
TASKORA_DAPR_PUBSUB: {{ .Values.dapr.pubsub.name | quote }}
TASKORA_DAPR_TOPIC: {{ .Values.dapr.pubsub.topic | quote }}
TASKORA_DAPR_STATE_STORE: {{ .Values.dapr.stateStore.name | quote }}
TASKORA_DAPR_SECRET_STORE: {{ .Values.dapr.secretStore.name | quote }}
{{- end }}
{{- end }}

{{/*
The env entry of the database password, read from database.existingSecret. Empty when
no Secret is named (IAM database authentication).
*/}}
{{- define "taskora.databasePasswordEnv" -}}
{{- if .Values.database.existingSecret }}
- name: TASKORA_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.passwordKey }}
{{- end }}
{{- end }}

{{/*
Security context of every container of the chart: no privilege escalation, read-only
root filesystem, no capabilities, the runtime's seccomp profile, a non-root user.
*/}}
{{- define "taskora.restrictedContainerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The Cloud SQL Auth Proxy as a native sidecar: an init container with restartPolicy
Always, which Kubernetes starts before the app containers and stops after them, so a
Job still completes. Native sidecars are on by default since Kubernetes 1.29.
*/}}
{{- define "taskora.cloudSqlProxyContainer" -}}
{{- $proxy := .Values.cloudSqlProxy }}
- name: cloud-sql-proxy
  image: {{ printf "%s:%s" $proxy.image.repository $proxy.image.tag | quote }}
  imagePullPolicy: {{ $proxy.image.pullPolicy }}
  restartPolicy: Always
  args:
    - --structured-logs
    - {{ printf "--port=%d" (int $proxy.port) | quote }}
    - --health-check
    - --http-address=0.0.0.0
    - {{ printf "--http-port=%d" (int $proxy.healthPort) | quote }}
    {{- if $proxy.privateIp }}
    - --private-ip
    {{- end }}
    {{- if $proxy.autoIamAuthn }}
    - --auto-iam-authn
    {{- end }}
    - {{ $proxy.instanceConnectionName | quote }}
  ports:
    - name: proxy-health
      containerPort: {{ $proxy.healthPort }}
      protocol: TCP
  startupProbe:
    httpGet:
      path: /startup
      port: proxy-health
    periodSeconds: 1
    failureThreshold: 60
  livenessProbe:
    httpGet:
      path: /liveness
      port: proxy-health
    periodSeconds: 10
    failureThreshold: 3
  readinessProbe:
    httpGet:
      path: /readiness
      port: proxy-health
    periodSeconds: 10
    failureThreshold: 3
  resources:
    {{- toYaml $proxy.resources | nindent 4 }}
  securityContext:
    {{- include "taskora.restrictedContainerSecurityContext" . | nindent 4 }}
{{- end }}

{{/*
The Secrets Store CSI volume of the Azure Key Vault SecretProviderClass. Mounting it is
what makes the driver copy the Key Vault secrets into Kubernetes Secrets.
*/}}
{{- define "taskora.keyVaultVolume" -}}
- name: azure-key-vault
  csi:
    driver: secrets-store.csi.k8s.io
    readOnly: true
    volumeAttributes:
      secretProviderClass: {{ include "taskora.componentName" (dict "root" . "component" "key-vault") }}
{{- end }}

{{/*
Stop the render with a clear message for values that the schema cannot check alone:
combinations of keys, and idle timeouts that would cut event streams between pings.
*/}}
{{- define "taskora.validate" -}}
{{- $ping := float64 .Values.config.ssePingSeconds }}
{{- $fix := "Raise the timeout or lower config.ssePingSeconds." }}
{{- range $key, $value := .Values.ingress.annotations }}
{{- if or (eq $key "nginx.ingress.kubernetes.io/proxy-read-timeout") (eq $key "nginx.ingress.kubernetes.io/proxy-send-timeout") }}
{{- if le (float64 $value) $ping }}
{{- fail (printf "ingress.annotations.%s is %s seconds, which does not exceed config.ssePingSeconds (%v), so ingress-nginx would close idle event streams. %s" $key $value $ping $fix) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $key, $value := .Values.service.loadBalancerAnnotations }}
{{- if eq $key "service.beta.kubernetes.io/do-loadbalancer-http-idle-timeout-seconds" }}
{{- if le (float64 $value) $ping }}
{{- fail (printf "service.loadBalancerAnnotations.%s is %s seconds, which does not exceed config.ssePingSeconds (%v). %s" $key $value $ping $fix) }}
{{- end }}
{{- end }}
{{- if eq $key "service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout" }}
{{- if le (mulf (float64 $value) 60.0) $ping }}
{{- fail (printf "service.loadBalancerAnnotations.%s is %s minutes, which does not exceed config.ssePingSeconds (%v seconds). %s" $key $value $ping $fix) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.gkeBackendConfig.enabled (le (float64 .Values.gkeBackendConfig.timeoutSec) $ping) }}
{{- fail (printf "gkeBackendConfig.timeoutSec is %v seconds, which does not exceed config.ssePingSeconds (%v), so the load balancer would end every event stream. %s" .Values.gkeBackendConfig.timeoutSec $ping $fix) }}
{{- end }}
{{- /* The path of an image reference is lowercase (OCI distribution spec); only the
registry host may have capitals. */}}
{{- $path := regexReplaceAll "^[^/]*[.:][^/]*/" .Values.image.repository "" }}
{{- if ne $path (lower $path) }}
{{- fail (printf "image.repository %q has capital letters, which image references do not allow: use %q" .Values.image.repository (lower .Values.image.repository)) }}
{{- end }}
{{- if and .Values.cloudSqlProxy.enabled .Values.inClusterPostgresql.enabled }}
{{- fail "cloudSqlProxy.enabled and inClusterPostgresql.enabled are both true: choose one database. Set --set inClusterPostgresql.enabled=false to use Cloud SQL." }}
{{- end }}
{{- if and .Values.cloudSqlProxy.enabled (not .Values.cloudSqlProxy.instanceConnectionName) }}
{{- fail "cloudSqlProxy.instanceConnectionName is empty: set it to PROJECT:REGION:INSTANCE, as shown by `gcloud sql instances describe INSTANCE --format='value(connectionName)'`." }}
{{- end }}
{{- if and .Values.inClusterPostgresql.enabled (not .Values.database.existingSecret) }}
{{- fail "inClusterPostgresql.enabled needs database.existingSecret: the in-cluster PostgreSQL reads its password from that Secret. Create it with kubectl create secret generic and set database.existingSecret." }}
{{- end }}
{{- if .Values.dapr.enabled }}
{{- if and (eq .Values.dapr.pubsub.type "kafka") (not .Values.kafka.brokers) }}
{{- fail "dapr.pubsub.type is kafka but kafka.brokers is empty: list the bootstrap brokers as host:port, for example --set 'kafka.brokers={broker-1:9092}'." }}
{{- end }}
{{- if and (eq .Values.dapr.pubsub.type "kafka") (eq .Values.kafka.authType "password") (or (not .Values.kafka.username) (not .Values.kafka.existingSecret)) }}
{{- fail "kafka.authType is password but kafka.username or kafka.existingSecret is empty: set both, the password stays in the Secret." }}
{{- end }}
{{- if and (eq .Values.dapr.stateStore.type "postgresql") (not .Values.dapr.stateStore.postgresql.existingSecret) }}
{{- fail "dapr.stateStore.type is postgresql but dapr.stateStore.postgresql.existingSecret is empty: name a Secret that contains the connection string." }}
{{- end }}
{{- end }}
{{- if .Values.azureKeyVault.enabled }}
{{- if or (not .Values.azureKeyVault.keyvaultName) (not .Values.azureKeyVault.tenantId) (not .Values.azureKeyVault.clientId) }}
{{- fail "azureKeyVault.enabled needs azureKeyVault.keyvaultName, azureKeyVault.tenantId and azureKeyVault.clientId: set all three." }}
{{- end }}
{{- $annotated := get (.Values.serviceAccount.annotations | default dict) "azure.workload.identity/client-id" }}
{{- if and $annotated .Values.azureKeyVault.clientId (ne (toString $annotated) (toString .Values.azureKeyVault.clientId)) }}
{{- fail (printf "serviceAccount.annotations.azure\\.workload\\.identity/client-id (%v) differs from azureKeyVault.clientId (%v), but the pods and the Key Vault driver must use one managed identity. Remove the annotation: the chart sets it from azureKeyVault.clientId, for example with --set 'serviceAccount.annotations.azure\\.workload\\.identity/client-id=null'." $annotated .Values.azureKeyVault.clientId) }}
{{- end }}
{{- if not .Values.azureKeyVault.secrets }}
{{- fail "azureKeyVault.enabled needs at least one entry in azureKeyVault.secrets, such as the database password." }}
{{- end }}
{{- end }}
{{- if and .Values.dapr.enabled (le (int .Values.terminationGracePeriodSeconds) (int .Values.dapr.gracefulShutdownSeconds)) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed dapr.gracefulShutdownSeconds (%v), or Kubernetes kills the sidecar while it drains." .Values.terminationGracePeriodSeconds .Values.dapr.gracefulShutdownSeconds) }}
{{- end }}
{{- end }}
