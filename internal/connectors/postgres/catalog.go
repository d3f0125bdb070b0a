package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

// pgColumn is a column as the catalog (or a query's row description) describes it.
type pgColumn struct {
	Name      string
	Native    string // format_type(), e.g. "numeric(12,2)"
	TypName   string // base type name (domains resolved)
	OID       uint32 // base type OID (domains resolved)
	TypMod    int32  // base type modifier
	NotNull   bool
	Generated bool
}

// logical maps the column to its logical type. Types without a logical counterpart
// (interval, inet, arrays, enums, ...) travel as their text form, which reads back losslessly.
func (c pgColumn) logical() connector.Column {
	out := connector.Column{Name: c.Name, Nullable: !c.NotNull, Native: c.Native, Type: connector.TypeString}
	switch c.OID {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID:
		out.Type = connector.TypeInt64
	case pgtype.Float4OID, pgtype.Float8OID:
		out.Type = connector.TypeFloat64
	case pgtype.NumericOID:
		out.Type = connector.TypeDecimal
		out.Precision, out.Scale = numericTypmod(c.TypMod)
	case pgtype.VarcharOID, pgtype.BPCharOID:
		if c.TypMod >= 4 {
			out.Length = int(c.TypMod - 4)
		}
	case pgtype.BoolOID:
		out.Type = connector.TypeBool
	case pgtype.DateOID:
		out.Type = connector.TypeDate
	case pgtype.TimestampOID:
		out.Type = connector.TypeTimestamp
	case pgtype.TimestamptzOID:
		out.Type = connector.TypeTimestampTZ
	case pgtype.ByteaOID:
		out.Type = connector.TypeBytes
	case pgtype.JSONOID, pgtype.JSONBOID:
		out.Type = connector.TypeJSON
	case pgtype.UUIDOID:
		out.Type = connector.TypeUUID
	}
	return out
}

// binaryKind names the column's binary COPY representation: columns of equal kinds take each
// other's binary data. "" for user-defined types, whose binary forms carry database-specific
// OIDs (array element types) or labels (enums): those take the text path.
func (c pgColumn) binaryKind() string {
	switch c.OID {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return "text" // all sent and received as plain text bytes
	}
	if c.TypName == "citext" {
		return "text"
	}
	if c.OID >= firstUserOID || c.TypName == "" {
		return ""
	}
	return c.TypName
}

// firstUserOID is PostgreSQL's FirstNormalObjectId: OIDs below it are built in.
const firstUserOID = 16384

// numericTypmod decodes numeric(p,s) from a type modifier; unbounded numeric (and the odd
// negative or over-large scales PostgreSQL 15 allows, which Decimal cannot express) give 0, 0.
func numericTypmod(typmod int32) (precision, scale int) {
	if typmod < 4 {
		return 0, 0
	}
	tm := typmod - 4
	precision = int((tm >> 16) & 0xffff)
	scale = int(((tm & 0x7ff) ^ 1024) - 1024)
	if scale < 0 || scale > precision {
		return 0, 0
	}
	return precision, scale
}

// tableInfo is what the catalog says about a table.
type tableInfo struct {
	OID     uint32
	Name    tableName // as stored
	Kind    string    // pg_class.relkind
	Columns []pgColumn
	Key     []string // primary key columns, in key order
}

// column finds a column by name as sqlkit.Table.Find does.
func (t *tableInfo) column(name string) (pgColumn, bool) {
	if i := t.catalog(t.Name.String()).Find(name); i >= 0 {
		return t.Columns[i], true
	}
	return pgColumn{}, false
}

// catalog describes the table, named name in messages, for sqlkit's column and key checks.
func (t *tableInfo) catalog(name string) *sqlkit.Table {
	out := &sqlkit.Table{Name: name, Key: t.Key, Columns: make([]sqlkit.Column, len(t.Columns))}
	for i, c := range t.Columns {
		out.Columns[i] = sqlkit.Column{Name: c.Name, Generated: c.Generated}
	}
	return out
}

func (t *tableInfo) schema() connector.Schema {
	s := connector.Schema{Key: t.Key}
	for _, c := range t.Columns {
		s.Columns = append(s.Columns, c.logical())
	}
	return s
}

// lookupTable finds a table, view or foreign table; nil when missing. An unquoted name that
// is not found as written is tried in lower case, as SQL would fold it.
func lookupTable(ctx context.Context, conn *pgx.Conn, tn tableName) (*tableInfo, error) {
	cands := []tableName{tn}
	if !tn.quoted && (tn.Name != strings.ToLower(tn.Name) || tn.Schema != strings.ToLower(tn.Schema)) {
		cands = append(cands, tableName{Schema: strings.ToLower(tn.Schema), Name: strings.ToLower(tn.Name)})
	}
	for _, c := range cands {
		var info tableInfo
		err := conn.QueryRow(ctx, `SELECT c.oid, c.relkind::text FROM pg_catalog.pg_class c
			JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p','v','m','f')`,
			c.Schema, c.Name).Scan(&info.OID, &info.Kind)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		info.Name = c
		if err := describeTable(ctx, conn, &info); err != nil {
			return nil, err
		}
		return &info, nil
	}
	return nil, nil
}

// describeTable reads the columns and primary key of info.OID.
func describeTable(ctx context.Context, conn *pgx.Conn, info *tableInfo) error {
	rows, err := conn.Query(ctx, `SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod),
			CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
			CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
			COALESCE(bt.typname, t.typname)::text,
			a.attnotnull OR (t.typtype = 'd' AND t.typnotnull),
			a.attgenerated <> ''
		FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
		LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, info.OID)
	if err != nil {
		return err
	}
	info.Columns = info.Columns[:0]
	for rows.Next() {
		var c pgColumn
		if err := rows.Scan(&c.Name, &c.Native, &c.OID, &c.TypMod, &c.TypName, &c.NotNull, &c.Generated); err != nil {
			rows.Close()
			return err
		}
		info.Columns = append(info.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	info.Key, err = indexColumns(ctx, conn, info.OID, "i.indisprimary")
	return err
}

// indexColumns returns the columns of the first index of table oid matching cond (the
// primary key), in index order.
func indexColumns(ctx context.Context, conn *pgx.Conn, oid uint32, cond string) ([]string, error) {
	sets, err := indexSets(ctx, conn, oid, cond)
	if err != nil || len(sets) == 0 {
		return nil, err
	}
	return sets[0], nil
}

// indexSets returns the column lists of the plain-column indexes of table oid matching cond.
func indexSets(ctx context.Context, conn *pgx.Conn, oid uint32, cond string) ([][]string, error) {
	rows, err := conn.Query(ctx, `SELECT array_agg(a.attname::text ORDER BY k.ord)
		FROM pg_catalog.pg_index i
		CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indexprs IS NULL AND i.indpred IS NULL AND `+cond+`
		GROUP BY i.indexrelid, i.indisprimary ORDER BY i.indisprimary DESC, i.indexrelid`, oid)
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rows.Next() {
		var cols []string
		if err := rows.Scan(&cols); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, cols)
	}
	return out, rows.Err()
}

// describeQuery reads a query's result columns from its row description (Prepare/Describe).
func describeQuery(ctx context.Context, conn *pgx.Conn, query string) ([]pgColumn, error) {
	sd, err := conn.Prepare(ctx, "", query)
	if err != nil {
		return nil, err
	}
	if len(sd.Fields) == 0 {
		return nil, fmt.Errorf("the query returns no columns")
	}
	// Resolve type names (and domains) for every type: row descriptions give only OIDs.
	oids := make([]uint32, 0, len(sd.Fields))
	for _, f := range sd.Fields {
		oids = append(oids, f.DataTypeOID)
	}
	type typeInfo struct {
		name, base string
		baseOID    uint32
		baseMod    int32
		domain     bool
	}
	types := map[uint32]typeInfo{}
	rows, err := conn.Query(ctx, `SELECT t.oid, t.typname::text, t.typtype = 'd', t.typbasetype,
			t.typtypmod, COALESCE(bt.typname, t.typname)::text
		FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
		WHERE t.oid = ANY($1)`, oids)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var oid uint32
		var ti typeInfo
		if err := rows.Scan(&oid, &ti.name, &ti.domain, &ti.baseOID, &ti.baseMod, &ti.base); err != nil {
			rows.Close()
			return nil, err
		}
		types[oid] = ti
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	cols := make([]pgColumn, 0, len(sd.Fields))
	seen := map[string]int{}
	for _, f := range sd.Fields {
		c := pgColumn{Name: f.Name, OID: f.DataTypeOID, TypMod: f.TypeModifier}
		ti := types[f.DataTypeOID]
		c.TypName, c.Native = ti.name, ti.name
		if ti.domain {
			c.OID, c.TypMod, c.TypName = ti.baseOID, ti.baseMod, ti.base
		}
		// Result columns may share a name ("?column?", two "id"s); the schema needs unique ones.
		k := strings.ToLower(c.Name)
		if n := seen[k]; n > 0 {
			for {
				n++
				cand := c.Name + "_" + strconv.Itoa(n)
				if seen[strings.ToLower(cand)] == 0 {
					seen[k] = n
					c.Name = cand
					break
				}
			}
		}
		seen[strings.ToLower(c.Name)]++
		cols = append(cols, c)
	}
	return cols, nil
}

// ddlType spells a logical column as a PostgreSQL type for CREATE TABLE.
func ddlType(c connector.Column) string {
	switch c.Type {
	case connector.TypeInt64:
		return "bigint"
	case connector.TypeFloat64:
		return "double precision"
	case connector.TypeDecimal:
		if c.Precision > 0 && c.Precision <= 1000 && c.Scale >= 0 && c.Scale <= c.Precision {
			return fmt.Sprintf("numeric(%d,%d)", c.Precision, c.Scale)
		}
		return "numeric"
	case connector.TypeString:
		if c.Length > 0 && c.Length <= 10485760 {
			return fmt.Sprintf("varchar(%d)", c.Length)
		}
		return "text"
	case connector.TypeBool:
		return "boolean"
	case connector.TypeDate:
		return "date"
	case connector.TypeTimestamp:
		return "timestamp"
	case connector.TypeTimestampTZ:
		return "timestamptz"
	case connector.TypeBytes:
		return "bytea"
	case connector.TypeJSON:
		return "jsonb"
	case connector.TypeUUID:
		return "uuid"
	}
	return "text"
}

// createTableSQL is the CREATE TABLE statement for schema s with primary key key.
func createTableSQL(tn tableName, s connector.Schema, key []string) string {
	defs := make([]sqlkit.ColumnDef, len(s.Columns))
	for i, c := range s.Columns {
		isKey := slices.ContainsFunc(key, func(k string) bool { return strings.EqualFold(k, c.Name) })
		defs[i] = sqlkit.ColumnDef{Name: c.Name, Type: ddlType(c), NotNull: !c.Nullable || isKey}
	}
	return dialect.CreateTable(tn.SQL(), defs, key, "")
}
