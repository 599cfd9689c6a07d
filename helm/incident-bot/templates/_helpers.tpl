{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "incident-bot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: "<release>-<chart>", or the release name when it already contains
the chart name; truncated to 63 characters.
*/}}
{{- define "incident-bot.fullname" -}}
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
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "incident-bot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "incident-bot.labels" -}}
helm.sh/chart: {{ include "incident-bot.chart" . }}
{{ include "incident-bot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: incident-bot
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "incident-bot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "incident-bot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the ServiceAccount.
*/}}
{{- define "incident-bot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "incident-bot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the Secret the pod reads its credentials from: the one the ExternalSecret creates,
else secrets.existingSecret, else the release's full name.
*/}}
{{- define "incident-bot.secretName" -}}
{{- if .Values.externalSecret.enabled }}
{{- if .Values.secrets.existingSecret }}
{{- fail "set either secrets.existingSecret or externalSecret.enabled, not both" }}
{{- end }}
{{- default (printf "%s-secrets" (include "incident-bot.fullname" .)) .Values.externalSecret.targetName }}
{{- else }}
{{- default (include "incident-bot.fullname" .) .Values.secrets.existingSecret }}
{{- end }}
{{- end }}

{{/*
The secret variables, in order, each "NAME:required" or "NAME:optional". DATABASE_URL is
listed only when database.fromSecret is true, and is then required.
*/}}
{{- define "incident-bot.secretEnv" -}}
SLACK_BOT_TOKEN:required
{{- if eq (include "incident-bot.slackMode" .) "socket" }}
SLACK_APP_TOKEN:required
{{- else }}
SLACK_SIGNING_SECRET:required
{{- end }}
ALERTMANAGER_WEBHOOK_TOKEN:required
API_TOKEN:optional
WEB_SECRET:optional
{{- if .Values.database.fromSecret }}
DATABASE_URL:required
{{- end }}
{{- end }}

{{/*
Image reference.
*/}}
{{- define "incident-bot.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Mount path of the catalog ConfigMap and the file in it.
*/}}
{{- define "incident-bot.catalogPath" -}}
/etc/incident-bot/catalog.yaml
{{- end }}

{{/*
The PersistentVolumeClaim mounted at /data: an existing one, or the chart's own for SQLite;
empty with PostgreSQL (nothing to keep in /data then).
*/}}
{{- define "incident-bot.dataClaim" -}}
{{- if .Values.persistence.existingClaim -}}
{{ .Values.persistence.existingClaim }}
{{- else if and .Values.persistence.enabled (not .Values.database.fromSecret) -}}
{{ include "incident-bot.fullname" . }}-data
{{- end -}}
{{- end }}

{{/*
Refuse combinations that cannot work.
*/}}
{{- define "incident-bot.validate" -}}
{{- $sqlite := and (not .Values.database.fromSecret) (hasPrefix "sqlite" .Values.database.url) }}
{{- if and (gt (int .Values.replicaCount) 1) $sqlite }}
{{- fail "replicaCount > 1 needs PostgreSQL: set database.fromSecret=true and DATABASE_URL in the Secret (each pod would have its own SQLite file)" }}
{{- end }}
{{- if and $sqlite (not (include "incident-bot.dataClaim" .)) }}
{{- fail "SQLite needs a volume that outlives the pod: keep persistence.enabled=true, set persistence.existingClaim, or use PostgreSQL (database.fromSecret=true)" }}
{{- end }}
{{- if and (not .Values.database.fromSecret) (regexMatch "://[^/@]*:[^/@]*@" .Values.database.url) }}
{{- fail "database.url carries a password: put the URL in the Secret (key secrets.keys.DATABASE_URL) and set database.fromSecret=true" }}
{{- end }}
{{- end }}

{{/*
How Slack reaches the bot: "http" or "socket" (slack.mode), refused otherwise. Only the mode's
credential is passed to the pod, so a stray key in the Secret never switches modes.
*/}}
{{- define "incident-bot.slackMode" -}}
{{- $mode := .Values.slack.mode | default "http" -}}
{{- if not (has $mode (list "http" "socket")) -}}
{{- fail (printf "slack.mode must be http or socket, not %q" $mode) -}}
{{- end -}}
{{- $mode -}}
{{- end }}

{{/*
The namespaces the bot may read (/status), as a JSON list, sorted: the release's own, every
catalog service's (a service without one is in "default", as the bot reads it), those in
rbac.readNamespaces, and the rollback namespaces.
*/}}
{{- define "incident-bot.readNamespaces" -}}
{{- $namespaces := list .Release.Namespace -}}
{{- range $name, $service := .Values.catalog.services -}}
{{- $namespaces = append $namespaces ((default dict $service).namespace | default "default") -}}
{{- end -}}
{{- $namespaces = concat $namespaces (.Values.rbac.readNamespaces | default list) (.Values.catalog.rollback.namespaces | default list) -}}
{{- $namespaces | uniq | sortAlpha | toJson -}}
{{- end }}
