// Package all registers every built-in connector; import it for its side effects.
package all

import (
	_ "github.com/datahub-oss/datahub/internal/connectors/file"     // files: CSV, NDJSON, JSON
	_ "github.com/datahub-oss/datahub/internal/connectors/mysql"    // MySQL and MariaDB
	_ "github.com/datahub-oss/datahub/internal/connectors/postgres" // PostgreSQL
	_ "github.com/datahub-oss/datahub/internal/connectors/sftp"     // SFTP servers (objects)
	_ "github.com/datahub-oss/datahub/internal/connectors/sqlite"   // SQLite
)
