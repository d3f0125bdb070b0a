package bustest

import "syscall"

// dieWithParent has the kernel kill a node when the test binary dies, so that a crashed or
// interrupted test leaves no nats-server behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
