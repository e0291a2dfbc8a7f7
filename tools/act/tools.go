//go:build tools

// Package tools pins act's main package for provision/act.sh; nothing here is compiled.
package tools

import _ "github.com/nektos/act"
