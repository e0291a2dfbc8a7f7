//go:build tools

// Package tools pins the kube-apiserver and kube-controller-manager main packages for provision/test-cluster.sh; nothing here is compiled.
// k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with directories in its own
// repository; go.mod replaces each with its published k8s.io/<name> v0.<minor>.<patch> instead.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
