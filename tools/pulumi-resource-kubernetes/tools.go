//go:build tools

// Package tools pins the Kubernetes provider. Its main package embeds files that its generate.go
// writes, so provision/pulumi-engine.sh copies that package next to this go.mod, generates, then builds.
// See ../README.md.
package tools

import _ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
