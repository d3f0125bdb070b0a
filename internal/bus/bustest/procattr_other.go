//go:build !linux

package bustest

import "syscall"

// dieWithParent is Linux only; elsewhere the test's cleanup stops the nodes.
func dieWithParent() *syscall.SysProcAttr { return nil }
