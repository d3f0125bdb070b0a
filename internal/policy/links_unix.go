//go:build unix

package policy

import (
	"io/fs"
	"syscall"
)

// links is the number of hard links of a file (1 when the system does not say).
func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink) //nolint:unconvert // Nlink's type differs between systems
	}
	return 1
}
