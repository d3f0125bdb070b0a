package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"

	"modernc.org/sqlite"
)

// readDriver opens a source's connections: its own driver, so that its connection hook (the
// read-only authorizer) reaches the sources' connections only, not the hub's store or a sink.
var readDriver = func() *sqlite.Driver {
	d := &sqlite.Driver{}
	d.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, _ string) error {
		r, ok := c.(sqlite.AuthorizerRegisterer)
		if !ok {
			return errors.New("the SQLite driver cannot install an authorizer")
		}
		return r.RegisterAuthorizer(readOnlyAuthorizer)
	})
	return d
}()

// readOnlyPragmas are the pragmas a source may run: they only report, whatever their
// argument (the connector reads schemas with pragma_table_xinfo(...) and pragma_table_list).
var readOnlyPragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true, "index_info": true,
	"index_xinfo": true, "foreign_key_list": true, "database_list": true, "collation_list": true,
	"function_list": true, "module_list": true, "pragma_list": true, "compile_options": true,
}

// readOnlyAuthorizer lets a source's statements read and nothing else: no INSERT, UPDATE,
// DELETE or DDL (temporary objects included), no ATTACH (which would create a file), and no
// pragma that sets anything (writable_schema, query_only ...). It is checked when a statement
// is prepared, so a refused statement never runs (ATTACH creates no file). The connection
// also has query_only on.
func readOnlyAuthorizer(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthRead, sqlite.AuthFunction, sqlite.AuthRecursive,
		sqlite.AuthTransaction, sqlite.AuthSavepoint:
		return sqlite.AuthorizerOK
	case sqlite.AuthPragma:
		// arg2 is the pragma's argument: for these a table or index name, never a setting.
		if readOnlyPragmas[strings.ToLower(arg1)] {
			return sqlite.AuthorizerOK
		}
	}
	return sqlite.AuthorizerDeny
}

// readConnector opens source connections through readDriver.
type readConnector struct{ dsn string }

func (c readConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return readDriver.Open(c.dsn)
}

func (c readConnector) Driver() driver.Driver { return readDriver }

// openRead opens a source's database handle.
func openRead(dsn string) *sql.DB { return sql.OpenDB(readConnector{dsn: dsn}) }
