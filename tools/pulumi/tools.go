//go:build tools

// Package tools pins the Pulumi CLI's main package so that `go build` in this module builds the
// released CLI from the module proxy. See ../README.md.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
