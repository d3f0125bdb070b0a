package file

import (
	"context"

	"github.com/datahub-oss/datahub/connector"
)

var _ connector.Sizer = (*source)(nil)

// Size is the file's length: bytes read count the file's bytes, so they end at it. A pipe
// or another file that is not regular has no size known in advance.
func (s *source) Size(context.Context) (connector.Size, bool) {
	if s.f == nil {
		return connector.Size{}, false
	}
	st, err := s.f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() <= 0 {
		return connector.Size{}, false
	}
	return connector.Size{Bytes: st.Size()}, true
}
