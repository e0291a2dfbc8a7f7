//go:build tools

// Package tools pins etcd's main package for provision/test-cluster.sh; nothing here is compiled.
package tools

import _ "go.etcd.io/etcd/server/v3"
