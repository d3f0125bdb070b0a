//go:build !unix

package policy

import "io/fs"

// links is 1 where the system does not report hard links.
func links(fs.FileInfo) uint64 { return 1 }
