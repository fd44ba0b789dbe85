//go:build tools

// Package tools pins the helm CLI that tests/helm/build.sh builds (go build helm.sh/helm/v4/cmd/helm):
// importing its main package here keeps it and its dependencies in go.mod and go.sum.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
