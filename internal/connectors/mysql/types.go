package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

// kind is how one column's values travel between Go and the server's text.
type kind uint8

const (
	kString   kind = iota
	kInt           // any signed integer, year, unsigned up to int64
	kUint          // bigint unsigned: decimal(20,0)
	kFloat         // double
	kFloat32       // float: read back as its shortest float32 text, whatever the protocol
	kDecimal       // decimal(p,s)
	kDecimalU      // decimal created for an unbounded decimal: trailing zeros dropped on read
	kBool          // tinyint(1)
	kBitBool       // bit(1)
	kBit           // bit(n): an unsigned integer (decimal for bit(64))
	kDate          // date
	kDatetime      // datetime: a wall clock
	kInstant       // timestamp, or datetime commented datahub:timestamptz, in UTC
	kBytes         // binary, varbinary, blobs
	kJSON          // json (MySQL) or longtext with CHECK json_valid (MariaDB)
	kUUID          // MariaDB uuid, or char(36) commented datahub:uuid
	kSpatial       // geometry types, as WKT text
)

// Column comments that carry a logical type MySQL cannot spell.
const (
	commentTZ      = "datahub:timestamptz"
	commentUUID    = "datahub:uuid"
	commentDecimal = "datahub:decimal"
)

// tcol is one column of a table as the server declares it.
type tcol struct {
	col  connector.Column
	kind kind
	// p, s: the declared decimal precision and scale (for casts), even when col says unbounded.
	p, s int
}

// tableDesc is a table's columns in order and its primary key.
type tableDesc struct {
	cols []tcol
	pk   []string
}

// catalog describes the table t for the kit's column and key checks.
func (d *tableDesc) catalog(t tableName) *sqlkit.Table {
	out := &sqlkit.Table{Name: t.String(), Key: d.pk, Columns: make([]sqlkit.Column, len(d.cols))}
	for i, c := range d.cols {
		out.Columns[i] = sqlkit.Column{Name: c.col.Name}
	}
	return out
}

// describe reads a table's columns from information_schema; found is false when the table
// does not exist.
func describe(ctx context.Context, q querier, info serverInfo, t tableName) (d tableDesc, found bool, err error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE,
		CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, COLUMN_COMMENT
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
		ORDER BY ORDINAL_POSITION`, t.db, t.name)
	if err != nil {
		return d, false, err
	}
	type raw struct {
		name, dataType, colType, nullable, comment string
		charLen, prec, scale                       sql.NullInt64
	}
	var rs []raw
	for rows.Next() {
		var r raw
		if err := rows.Scan(&r.name, &r.dataType, &r.colType, &r.nullable, &r.charLen, &r.prec, &r.scale, &r.comment); err != nil {
			_ = rows.Close()
			return d, false, err
		}
		rs = append(rs, r)
	}
	if err := rows.Close(); err != nil {
		return d, false, err
	}
	if err := rows.Err(); err != nil {
		return d, false, err
	}
	if len(rs) == 0 {
		return d, false, nil
	}
	jsonCols := map[string]bool{}
	if info.maria {
		// MariaDB's JSON is LONGTEXT with CHECK (json_valid(`col`)); older servers lack the
		// view, and then JSON columns read as strings.
		if cr, err := q.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
			WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, t.db, t.name); err == nil {
			for cr.Next() {
				var clause string
				if cr.Scan(&clause) == nil {
					if c, ok := strings.CutPrefix(clause, "json_valid("); ok {
						if c, ok = strings.CutSuffix(c, ")"); ok && strings.HasPrefix(c, "`") && strings.HasSuffix(c, "`") && len(c) >= 2 {
							jsonCols[strings.ReplaceAll(c[1:len(c)-1], "``", "`")] = true
						}
					}
				}
			}
			_ = cr.Close()
		}
	}
	for _, r := range rs {
		d.cols = append(d.cols, mapColumn(r.name, strings.ToLower(r.dataType), strings.ToLower(r.colType),
			r.nullable == "YES", r.charLen, r.prec, r.scale, r.comment, jsonCols[r.name]))
	}
	pk, err := q.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY'
		ORDER BY ORDINAL_POSITION`, t.db, t.name)
	if err != nil {
		return d, true, err
	}
	defer func() { _ = pk.Close() }()
	for pk.Next() {
		var n string
		if err := pk.Scan(&n); err != nil {
			return d, true, err
		}
		d.pk = append(d.pk, n)
	}
	return d, true, pk.Err()
}

// uniqueKeys lists the column sets of a table's primary key and unique indexes.
func uniqueKeys(ctx context.Context, q querier, t tableName) ([][]string, error) {
	return sqlkit.ColumnSets(ctx, q, `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`, t.db, t.name)
}

// mapColumn turns a column's information_schema row into its logical type.
func mapColumn(name, dataType, colType string, nullable bool, charLen, prec, scale sql.NullInt64, comment string, isJSON bool) tcol {
	c := connector.Column{Name: name, Nullable: nullable, Native: colType}
	t := tcol{}
	switch dataType {
	case "tinyint":
		if colType == "tinyint(1)" {
			c.Type, t.kind = connector.TypeBool, kBool
		} else {
			c.Type, t.kind = connector.TypeInt64, kInt
		}
	case "smallint", "mediumint", "int", "integer", "year":
		c.Type, t.kind = connector.TypeInt64, kInt
	case "bigint":
		if strings.Contains(colType, "unsigned") {
			c.Type, t.kind, c.Precision = connector.TypeDecimal, kUint, 20
			t.p = 20
		} else {
			c.Type, t.kind = connector.TypeInt64, kInt
		}
	case "bit":
		switch {
		case prec.Int64 <= 1:
			c.Type, t.kind = connector.TypeBool, kBitBool
		case prec.Int64 < 64:
			c.Type, t.kind = connector.TypeInt64, kBit
		default:
			c.Type, t.kind, c.Precision = connector.TypeDecimal, kBit, 20
		}
	case "float":
		c.Type, t.kind = connector.TypeFloat64, kFloat32
	case "double", "real", "double precision":
		c.Type, t.kind = connector.TypeFloat64, kFloat
	case "decimal", "numeric":
		c.Type, t.kind = connector.TypeDecimal, kDecimal
		t.p, t.s = int(prec.Int64), int(scale.Int64)
		if strings.Contains(comment, commentDecimal) {
			t.kind = kDecimalU
		} else {
			c.Precision, c.Scale = t.p, t.s
		}
	case "char", "varchar":
		c.Type, c.Length = connector.TypeString, int(charLen.Int64)
		if strings.Contains(comment, commentUUID) {
			c.Type, c.Length, t.kind = connector.TypeUUID, 0, kUUID
		}
	case "tinytext", "text", "mediumtext", "longtext":
		// Their limits are in bytes, not characters: leave them to the server.
		c.Type = connector.TypeString
		if isJSON {
			c.Type, t.kind = connector.TypeJSON, kJSON
		}
	case "json":
		c.Type, t.kind = connector.TypeJSON, kJSON
	case "uuid":
		c.Type, t.kind = connector.TypeUUID, kUUID
	case "date":
		c.Type, t.kind = connector.TypeDate, kDate
	case "datetime":
		c.Type, t.kind = connector.TypeTimestamp, kDatetime
		if strings.Contains(comment, commentTZ) {
			c.Type, t.kind = connector.TypeTimestampTZ, kInstant
		}
	case "timestamp":
		c.Type, t.kind = connector.TypeTimestampTZ, kInstant
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob":
		c.Type, t.kind, c.Length = connector.TypeBytes, kBytes, int(charLen.Int64)
	case "longblob":
		c.Type, t.kind = connector.TypeBytes, kBytes
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection", "geomcollection":
		c.Type, t.kind = connector.TypeString, kSpatial
	default: // enum, set, time, inet4, inet6 and anything newer: their text
		c.Type, t.kind = connector.TypeString, kString
	}
	t.col = c
	return t
}

// mapResultColumn types a query's result column from the protocol's metadata, which is
// less precise than information_schema: no tinyint(1) booleans, no comments, no MariaDB JSON.
func mapResultColumn(ct *sql.ColumnType) tcol {
	c := connector.Column{Name: ct.Name(), Native: strings.ToLower(ct.DatabaseTypeName())}
	if n, ok := ct.Nullable(); ok {
		c.Nullable = n
	} else {
		c.Nullable = true
	}
	t := tcol{}
	switch ct.DatabaseTypeName() {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR",
		"UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT", "UNSIGNED INT":
		c.Type, t.kind = connector.TypeInt64, kInt
	case "UNSIGNED BIGINT":
		c.Type, t.kind, c.Precision = connector.TypeDecimal, kUint, 20
	case "BIT":
		c.Type, t.kind, c.Precision = connector.TypeDecimal, kBit, 20
	case "FLOAT":
		c.Type, t.kind = connector.TypeFloat64, kFloat32
	case "DOUBLE":
		c.Type, t.kind = connector.TypeFloat64, kFloat
	case "DECIMAL":
		c.Type, t.kind = connector.TypeDecimal, kDecimal
		if p, s, ok := ct.DecimalSize(); ok && p > 0 {
			c.Precision, c.Scale = int(p), int(s)
			t.p, t.s = c.Precision, c.Scale
		}
	case "DATE":
		c.Type, t.kind = connector.TypeDate, kDate
	case "DATETIME":
		c.Type, t.kind = connector.TypeTimestamp, kDatetime
	case "TIMESTAMP":
		c.Type, t.kind = connector.TypeTimestampTZ, kInstant
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "GEOMETRY":
		c.Type, t.kind = connector.TypeBytes, kBytes
	case "JSON":
		c.Type, t.kind = connector.TypeJSON, kJSON
	default:
		c.Type, t.kind = connector.TypeString, kString
	}
	t.col = c
	return t
}

// createTableSQL renders CREATE TABLE for schema s with primary key keys. Choices:
//   - text compares byte-exact (utf8mb4_bin), as it does in the source;
//   - strings become VARCHAR(n) while the declared row stays well under InnoDB's 65,535-byte
//     limit, else LONGTEXT; key strings must be VARCHAR (TEXT cannot be a key without a
//     prefix): VARCHAR(255) when unbounded, within the 3,072-byte key limit when bounded;
//   - timestamptz is DATETIME(6) holding UTC, commented so it reads back as timestamptz
//     (TIMESTAMP stops at 2038-01-19);
//   - an unbounded decimal is DECIMAL(65,30), commented: 35 integer and 30 fraction digits,
//     the most fraction digits MySQL allows (it covers PostgreSQL's division results), with
//     trailing zeros dropped on read; a value with more digits is refused by the server and
//     becomes a rejected row, never a rounded one, because Open reports the column unbounded;
//   - uuid is MariaDB's UUID where it exists, else CHAR(36) commented.
func createTableSQL(t tableName, s connector.Schema, keys []string, info serverInfo) (string, error) {
	isKey := make(map[string]bool, len(keys))
	nStrKeys := 0
	for _, k := range keys {
		i := s.Index(k)
		isKey[strings.ToLower(s.Columns[i].Name)] = true
		if tp := s.Columns[i].Type; tp == connector.TypeString || tp == connector.TypeBytes {
			nStrKeys++
		}
	}
	budget := 40000 // bytes of VARCHAR/VARBINARY declared on top of fixed-size columns
	defs := make([]sqlkit.ColumnDef, 0, len(s.Columns))
	for _, c := range s.Columns {
		key := isKey[strings.ToLower(c.Name)]
		typ, comment := "", ""
		switch c.Type {
		case connector.TypeInt64:
			typ = "BIGINT"
		case connector.TypeFloat64:
			typ = "DOUBLE"
		case connector.TypeDecimal:
			if c.Precision > 0 && c.Precision <= 65 && c.Scale >= 0 && c.Scale <= 30 && c.Scale <= c.Precision {
				typ = fmt.Sprintf("DECIMAL(%d,%d)", c.Precision, c.Scale)
			} else {
				typ, comment = "DECIMAL(65,30)", commentDecimal
			}
		case connector.TypeString, connector.TypeBytes:
			unit, vtype, long := 4, "VARCHAR", "LONGTEXT"
			if c.Type == connector.TypeBytes {
				unit, vtype, long = 1, "VARBINARY", "LONGBLOB"
			}
			n := c.Length
			if key {
				limit := 3072 / unit / nStrKeys
				if unit == 4 {
					limit = 768 / nStrKeys
				}
				if n <= 0 {
					n = min(255, limit)
				}
				n = min(n, limit)
				budget -= n * unit
				typ = fmt.Sprintf("%s(%d)", vtype, n)
			} else if n > 0 && n*unit <= 16383*4 && n*unit <= budget {
				budget -= n * unit
				typ = fmt.Sprintf("%s(%d)", vtype, n)
			} else {
				typ = long
			}
		case connector.TypeBool:
			typ = "BOOLEAN"
		case connector.TypeDate:
			typ = "DATE"
		case connector.TypeTimestamp:
			typ = "DATETIME(6)"
		case connector.TypeTimestampTZ:
			typ, comment = "DATETIME(6)", commentTZ
		case connector.TypeJSON:
			if key {
				return "", fmt.Errorf("column %q is json and cannot be part of a MySQL key", c.Name)
			}
			typ = "JSON"
		case connector.TypeUUID:
			if info.hasUUIDType() {
				typ = "UUID"
			} else {
				typ, comment = "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin", commentUUID
			}
		default:
			return "", fmt.Errorf("column %q has no MySQL type for %s", c.Name, c.Type)
		}
		if comment != "" {
			comment = " COMMENT '" + comment + "'"
		}
		defs = append(defs, sqlkit.ColumnDef{Name: c.Name, Type: typ, NotNull: !c.Nullable || key, Extra: comment})
	}
	pk := make([]string, len(keys))
	for i, k := range keys {
		pk[i] = s.Columns[s.Index(k)].Name
	}
	return dialect.CreateTable(t.String(), defs, pk, " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"), nil
}

// sideTable names a helper table next to t (staging, old); see sqlkit.Dialect.SideName.
func sideTable(t tableName, suffix string) tableName {
	return tableName{db: t.db, name: dialect.SideName(t.name, suffix)}
}

// querier is what *sql.Conn and *sql.DB share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

var errNotOpen = errors.New("not open")
