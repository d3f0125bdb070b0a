package cli

import (
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/file"
)

// copyStdio checks a copy's use of "-" (standard input as SOURCE, standard output as DEST)
// before anything is opened, and reports whether it uses it. A stream is read once: a
// resume or a retry would start again from where the stream stands, not from a checkpoint,
// so --resume is refused here and runCopy switches the retries off.
func copyStdio(f *copyFlags, mode connector.WriteMode, src, dst string) (bool, error) {
	in, out := file.IsStdio(src), file.IsStdio(dst)
	if in && f.fromFormat == "" && !hasFormatOption(src) {
		return false, usageError("reading standard input (-) needs --from-format (%s)", strings.Join(fileFormats(), ", "))
	}
	if out && f.toFormat == "" && !hasFormatOption(dst) {
		return false, usageError("writing standard output (-) needs --to-format (%s)", strings.Join(fileFormats(), ", "))
	}
	if (in || out) && f.resume != "" {
		return false, usageError("--resume cannot be used with -: standard input cannot be read again, nor standard output rewound; run the copy again from the start")
	}
	if out && mode == connector.ModeUpsert {
		return false, usageError("--mode upsert: standard output (-) has no keys; use append")
	}
	return in || out, nil
}

func hasFormatOption(raw string) bool {
	v, ok := connector.QueryOption(raw, "format")
	return ok && v != ""
}
