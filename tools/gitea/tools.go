//go:build tools

// Package tools pins Gitea's main package for provision/gitea.sh; nothing here is compiled.
package tools

import _ "code.gitea.io/gitea"
