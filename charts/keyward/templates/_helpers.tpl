{{/* Chart name, truncated to a DNS label. */}}
{{- define "keyward.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: also the binary's --name, the prefix of the objects it
creates (<fullname>-signing-keys, <fullname>-jwks, <fullname>-leader), so it
is kept short enough for those suffixes (63 - len("-signing-keys") = 50).
*/}}
{{- define "keyward.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "keyward.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "keyward.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keyward.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "keyward.labels" -}}
helm.sh/chart: {{ include "keyward.chart" . }}
{{ include "keyward.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: keyward
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "keyward.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keyward.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The issuer, required: every token, Secret and discovery document names it. */}}
{{- define "keyward.issuer" -}}
{{- $issuer := .Values.issuer | default "" | trim }}
{{- if not $issuer }}
{{- fail "issuer is required: set it to the URL clients reach the hub at, e.g. --set issuer=https://auth.example.com (it becomes the `iss` of every token and the base of every endpoint)" }}
{{- end }}
{{- $u := urlParse $issuer }}
{{- if or (not (has $u.scheme (list "https" "http"))) (not $u.host) $u.query $u.fragment }}
{{- fail (printf "issuer %q must be an http(s) URL with a host and no query or fragment, e.g. https://auth.example.com" $issuer) }}
{{- end }}
{{- $issuer | trimSuffix "/" }}
{{- end }}

{{/* The issuer's path ("" or "/hub"): endpoints are served under it. */}}
{{- define "keyward.issuerPath" -}}
{{- (urlParse (include "keyward.issuer" .)).path | trimSuffix "/" }}
{{- end }}

{{- define "keyward.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Watched namespaces, de-duplicated, in the order given. */}}
{{- define "keyward.watchNamespaces" -}}
{{- $seen := list }}
{{- range .Values.watchNamespaces }}
{{- if not (has . $seen) }}{{ $seen = append $seen . }}{{ end }}
{{- end }}
{{- if and $seen (or (eq .Values.clientRegistration.mode "open") (eq .Values.clientRegistration.metadataDocuments "open")) (not (has .Release.Namespace $seen)) }}
{{- fail (printf "clientRegistration keeps registered clients and those of metadata documents in the release namespace %q: add it to watchNamespaces, or set clientRegistration.mode=off and clientRegistration.metadataDocuments=off" .Release.Namespace) }}
{{- end }}
{{- join "," $seen }}
{{- end }}

{{/*
RBAC rules for the namespaces the hub watches: the ClusterRole when
watchNamespaces is empty, a Role in each watched namespace otherwise. Every
replica reads; only the Lease holder writes.
*/}}
{{- define "keyward.watchRules" -}}
# The four kinds. list+watch feed every replica's cache (each replica serves
# tokens from its own compiled snapshot). get: single reads (e.g. re-reading an
# object before a status write); it exposes nothing list does not.
- apiGroups: [keyward.dev]
  resources: [oauthclients, resources, accesspolicies, identityproviders]
  verbs: [get, list, watch]
# patch: the leader writes status with server-side apply (Ready condition,
# observedGeneration, client id, secretRef). Status only: the hub never
# changes a spec.
- apiGroups: [keyward.dev]
  resources: [oauthclients/status, resources/status, accesspolicies/status, identityproviders/status]
  verbs: [patch]
# update on finalizers: the client Secret's ownerReference to its OAuthClient
# sets blockOwnerDeletion, which clusters running the
# OwnerReferencesPermissionEnforcement admission plugin (OpenShift, some
# hardened clusters) allow only to whoever may update the owner's finalizers.
# Grants nothing on spec or status.
- apiGroups: [keyward.dev]
  resources: [oauthclients/finalizers]
  verbs: [update]
# Client Secrets. list+watch: every replica watches the Secrets labelled
# keyward.dev/oauthclient to load client secrets, and those labelled
# keyward.dev/passwords (static IdentityProviders' password hashes). RBAC cannot be narrowed by
# label (nor resourceNames, which are not known in advance), so this grants
# reading every Secret in the namespace(s); the hub itself only ever lists
# with the label selector. Use watchNamespaces to confine it. get: single
# reads by name, e.g. the Secret a client's spec.secret names (list already
# exposes as much).
# create: the leader creates `<client>-credentials` (ownerReference to the
# OAuthClient, so garbage collection deletes it; no delete verb).
# patch: the leader rotates a client secret and adds the keyward.dev/oauthclient
# label to a user-provided Secret it adopts.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, patch]
# Events (events.k8s.io/v1) about the objects: create; patch: kube-runtime's
# recorder updates the series count of a repeated event instead of creating a
# new one.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
