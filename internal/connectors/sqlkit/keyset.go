package sqlkit

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/datahub-oss/datahub/connector"
)

// KeysetVersion is the version of the position format Keyset.Encode writes.
//
// Positions are stored across versions of the hub: in the transaction log (a run resumed
// with --resume, or by another worker) and in the target's checkpoint table. So the format is
// versioned, and DecodeKeyset still reads the three formats the connectors wrote before it
// (see Legacy), which testdata/keyset guards.
const KeysetVersion = 1

// Keyset is where keyset paging resumes: after the row whose key columns Key held After,
// in the order ORDER BY Key reads them.
type Keyset struct {
	Key []string
	// After holds one value for each key column: int64, float64, string or []byte. They are
	// typed because a database may order 5 and '5' differently (SQLite does).
	After []any
}

// keysetJSON is the stored form: {"v":1,"key":["id"],"last":["i:42"]}, each value tagged
// with its type: i: integer, r: real, t: text, b: bytes in standard base64. The values are
// not under "after", the legacy formats' name, so that a hub of an older version refuses a
// position of this one instead of misreading it (PostgreSQL's would take "t:42" for a text).
type keysetJSON struct {
	V    int      `json:"v"`
	Key  []string `json:"key"`
	Last []string `json:"last"`
}

// legacyJSON is the unversioned {"key":[...],"after":[...]} of PostgreSQL and SQLite.
type legacyJSON struct {
	Key   []string `json:"key"`
	After []string `json:"after"`
}

// Encode returns the position in the current format. A value of another type is an error
// of the connector, not of the data.
func (k Keyset) Encode() (connector.Position, error) {
	if len(k.Key) != len(k.After) {
		return nil, fmt.Errorf("keyset position: %d key columns, %d values", len(k.Key), len(k.After))
	}
	out := keysetJSON{V: KeysetVersion, Key: k.Key, Last: make([]string, len(k.After))}
	for i, v := range k.After {
		switch x := v.(type) {
		case int64:
			out.Last[i] = "i:" + strconv.FormatInt(x, 10)
		case float64:
			out.Last[i] = "r:" + strconv.FormatFloat(x, 'g', -1, 64)
		case string:
			out.Last[i] = "t:" + x
		case []byte:
			out.Last[i] = "b:" + base64.StdEncoding.EncodeToString(x)
		default:
			return nil, fmt.Errorf("keyset position: key %s has a value of type %T", k.Key[i], v)
		}
	}
	return json.Marshal(out)
}

// ErrPosition is what every position that cannot be read wraps.
var ErrPosition = errors.New("not a position of this source")

// Legacy reads a position written before the versioned format.
type Legacy func(raw []byte) (Keyset, error)

// DecodeKeyset reads a position of the current format or, through legacy (nil: none), one of
// an older format.
func DecodeKeyset(raw connector.Position, legacy Legacy) (Keyset, error) {
	var j keysetJSON
	if err := json.Unmarshal(raw, &j); err == nil && j.V != 0 {
		if j.V != KeysetVersion {
			return Keyset{}, fmt.Errorf("%w: format version %d is newer than this hub reads (%d)", ErrPosition, j.V, KeysetVersion)
		}
		return decodeTagged(j.Key, j.Last)
	}
	if legacy == nil {
		return Keyset{}, ErrPosition
	}
	return legacy(raw)
}

func decodeTagged(key, after []string) (Keyset, error) {
	if len(key) == 0 || len(key) != len(after) {
		return Keyset{}, fmt.Errorf("%w: %d key columns, %d values", ErrPosition, len(key), len(after))
	}
	k := Keyset{Key: key, After: make([]any, len(after))}
	for i, a := range after {
		tag, val, _ := strings.Cut(a, ":")
		var err error
		switch tag {
		case "i":
			k.After[i], err = strconv.ParseInt(val, 10, 64)
		case "r":
			k.After[i], err = strconv.ParseFloat(val, 64)
		case "t":
			k.After[i] = val
		case "b":
			k.After[i], err = base64.StdEncoding.DecodeString(val)
		case "n":
			return Keyset{}, fmt.Errorf("%w: the value of key %s is NULL", ErrPosition, key[i])
		default:
			return Keyset{}, fmt.Errorf("%w: the value of key %s has no type tag", ErrPosition, key[i])
		}
		if err != nil {
			return Keyset{}, fmt.Errorf("%w: key %s: %v", ErrPosition, key[i], err)
		}
	}
	return k, nil
}

// legacyObject reads the unversioned form of PostgreSQL and SQLite.
func legacyObject(raw []byte) (key, after []string, err error) {
	var j legacyJSON
	if err := json.Unmarshal(raw, &j); err != nil || j.Key == nil {
		return nil, nil, ErrPosition
	}
	return j.Key, j.After, nil
}

// LegacyPostgres reads the PostgreSQL source's positions before version 1: the key columns
// and the text forms of their values, {"key":["id"],"after":["42"]}.
func LegacyPostgres(raw []byte) (Keyset, error) {
	key, after, err := legacyObject(raw)
	if err != nil {
		return Keyset{}, err
	}
	if len(key) != len(after) {
		return Keyset{}, fmt.Errorf("%w: %d key columns, %d values", ErrPosition, len(key), len(after))
	}
	k := Keyset{Key: key, After: make([]any, len(after))}
	for i, a := range after {
		k.After[i] = a
	}
	return k, nil
}

// LegacySQLite reads the SQLite source's positions before version 1, whose values were
// already tagged: {"key":["id"],"after":["i:42"]}.
func LegacySQLite(raw []byte) (Keyset, error) {
	key, after, err := legacyObject(raw)
	if err != nil {
		return Keyset{}, err
	}
	return decodeTagged(key, after)
}

// LegacyMySQL reads the MySQL source's positions before version 1: a JSON array of the key
// values' text forms, with no key names (Key is left nil) and the values of binary key columns
// in base64; binary[i] tells whether key column i is binary.
func LegacyMySQL(binary []bool) Legacy {
	return func(raw []byte) (Keyset, error) {
		var texts []string
		if err := json.Unmarshal(raw, &texts); err != nil {
			return Keyset{}, ErrPosition
		}
		if len(texts) != len(binary) {
			return Keyset{}, fmt.Errorf("%w: %d values for %d key columns", ErrPosition, len(texts), len(binary))
		}
		k := Keyset{After: make([]any, len(texts))}
		for i, t := range texts {
			k.After[i] = t
			if binary[i] {
				b, err := base64.StdEncoding.DecodeString(t)
				if err != nil {
					return Keyset{}, fmt.Errorf("%w: %v", ErrPosition, err)
				}
				k.After[i] = b
			}
		}
		return k, nil
	}
}

// Fits checks that the position is for the key columns key (compared without case when fold:
// SQLite's and MySQL's names are case-insensitive). A position without key names (a legacy
// MySQL one) fits any key of as many columns.
func (k Keyset) Fits(key []string, fold bool) error {
	same := len(k.After) == len(key)
	if k.Key != nil {
		same = same && len(k.Key) == len(key)
		for i := 0; same && i < len(key); i++ {
			same = k.Key[i] == key[i] || fold && strings.EqualFold(k.Key[i], key[i])
		}
	}
	if !same {
		return fmt.Errorf("%w: it is for key (%s), the table is read by (%s)", ErrPosition,
			strings.Join(k.Key, ", "), strings.Join(key, ", "))
	}
	return nil
}
