package gen

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// Words the names are made of: a few that are awkward in CSV, JSON and SQL (a comma, quotes,
// an apostrophe) and a few outside ASCII, so a copy of gen rows tests more than plain text.
var (
	firstNames = []string{"Ada", "Grace", "Linus", "Zoë", "José", "Søren", "Łukasz", "美咲", "Ngozi", "Ólafur", `"Bobby"`, "Mary-Jane"}
	lastNames  = []string{"Lovelace", "Hopper", "O'Brien", "Núñez", "Müller", "Smith, Jr.", "山田", "Øberg", "Van der Berg", "Nakamura"}
	tags       = []string{"new", "vip", "trial", "churned", "b2b", "émigré"}
)

// Date and time ranges of the generated values: dates from 1900 to 2099, timestamps from
// 1970 to 2069 with microseconds (what PostgreSQL and MySQL keep).
var (
	dateBase  = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	dateDays  = uint64(200 * 365)
	timeBase  = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	timeMicro = uint64(100 * 365 * 24 * time.Hour / time.Microsecond)
)

// mix is SplitMix64's finaliser: a fixed, well-spread hash of x, so values never depend on a
// random generator whose sequence could change with the Go release.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// hash is the k-th pseudo-random number of column col of record id.
func (s *source) hash(id int64, col int, k uint64) uint64 {
	return mix(mix(mix(s.seed)^uint64(id)) ^ uint64(col)<<32 ^ k) //nolint:gosec // the bits of id are hashed, its sign does not matter
}

// row generates record id (1-based).
func (s *source) row(id int64) []any {
	row := make([]any, len(columns))
	row[0] = id
	for c := 1; c < len(columns); c++ {
		if s.nulls > 0 && s.hash(id, c, 1)%100 < s.nulls {
			continue
		}
		row[c] = s.value(id, c)
	}
	return row
}

// value generates column c of record id.
func (s *source) value(id int64, c int) any {
	h := s.hash(id, c, 0)
	switch columns[c].Type {
	case connector.TypeInt64:
		return int64(h%2_000_001) - 1_000_000 //nolint:gosec // below 2,000,001
	case connector.TypeFloat64:
		return float64(h>>11)/(1<<53)*2e6 - 1e6
	case connector.TypeDecimal:
		return decimal(h)
	case connector.TypeString:
		return firstNames[h%uint64(len(firstNames))] + " " + lastNames[(h>>16)%uint64(len(lastNames))]
	case connector.TypeBool:
		return h&1 == 1
	case connector.TypeDate:
		return dateBase.AddDate(0, 0, int(h%dateDays)) //nolint:gosec // below 73,000
	case connector.TypeTimestamp, connector.TypeTimestampTZ:
		return timeBase.Add(time.Duration(h%timeMicro) * time.Microsecond) //nolint:gosec // below 100 years of microseconds
	case connector.TypeBytes:
		b := make([]byte, 0, 40)
		for i := uint64(0); len(b) < 32; i++ {
			b = binary.LittleEndian.AppendUint64(b, s.hash(id, c, i+2))
		}
		return b[:h%33]
	case connector.TypeJSON:
		return s.attributes(id, c, h)
	case connector.TypeUUID:
		var u connector.UUID
		binary.LittleEndian.PutUint64(u[:8], s.hash(id, c, 2))
		binary.LittleEndian.PutUint64(u[8:], s.hash(id, c, 3))
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
		return u
	}
	panic("gen: no generator for column " + columns[c].Name)
}

// decimal makes a value of decimal(12,2) from h: -9999999999.99 to 9999999999.99.
func decimal(h uint64) connector.Decimal {
	cents := h % 2_000_000_000_000
	neg := cents >= 1_000_000_000_000
	if neg {
		cents -= 1_000_000_000_000
	}
	frac := strconv.FormatUint(cents%100, 10)
	if len(frac) == 1 {
		frac = "0" + frac
	}
	s := strconv.FormatUint(cents/100, 10) + "." + frac
	if neg && cents != 0 {
		s = "-" + s
	}
	return connector.Decimal(s)
}

// attributes makes a small JSON object: a number, a tag list and a flag.
func (s *source) attributes(id int64, c int, h uint64) json.RawMessage {
	doc := struct {
		Rank int      `json:"rank"`
		Tags []string `json:"tags"`
		Seen bool     `json:"seen"`
	}{Rank: int(h % 1000), Tags: []string{}, Seen: h>>10&1 == 1} //nolint:gosec // below 1000
	for i := range h >> 12 % 4 {
		doc.Tags = append(doc.Tags, tags[s.hash(id, c, i+2)%uint64(len(tags))])
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic("gen: " + err.Error()) // a struct of ints, strings and bools always marshals
	}
	return b
}
