//go:build tools

// Package tools pins Mailpit in this module's go.mod.
package tools

import _ "github.com/axllent/mailpit"
