package format

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// AppendText appends connector.FormatTyped(v, t) to dst without the intermediate string for
// the common types; writers call it once per value.
func AppendText(dst []byte, v any, t connector.Type) []byte {
	switch x := v.(type) {
	case nil:
		return dst
	case string:
		return append(dst, x...)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case connector.Decimal:
		return append(dst, x...)
	case bool:
		return strconv.AppendBool(dst, x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(dst, connector.FormatFloat(x)...)
		}
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	case time.Time:
		switch t {
		case connector.TypeDate:
			return x.AppendFormat(dst, connector.DateLayout)
		case connector.TypeTimestamp:
			return x.AppendFormat(dst, connector.TimestampLayout)
		}
		return x.UTC().AppendFormat(dst, connector.TimestampTZLayout)
	case []byte:
		n := base64.StdEncoding.EncodedLen(len(x))
		dst = grow(dst, n)
		base64.StdEncoding.Encode(dst[len(dst):len(dst)+n], x)
		return dst[:len(dst)+n]
	case connector.UUID:
		return append(dst, x.String()...)
	}
	return append(dst, connector.FormatTyped(v, t)...)
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}
