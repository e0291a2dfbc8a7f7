//go:build tools

// Package tools pins the Node.js language host. Its own module is not served by the module proxy,
// so this builds the last sdk/v3 release that still carried it. See ../README.md.
package tools

import _ "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"
