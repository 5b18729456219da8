package pgstore

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// A password file that others can read is not the user's secret any
// more: libpq ignores it, with a warning, and so does routeops (pgx reads
// it whatever its mode).

var passfileWarned sync.Map // path -> struct{}: warn once per process

// passfilePath is the password file pgx would read for dsn: the DSN's
// passfile setting, else PGPASSFILE, else ~/.pgpass.
func passfilePath(dsn string) string {
	if p := dsnSetting(dsn, "passfile"); p != "" {
		return p
	}
	if p := os.Getenv("PGPASSFILE"); p != "" {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".pgpass")
	}
	return ""
}

// dsnSetting finds a keyword's value in a URL or keyword/value DSN (for
// keywords whose values need no unquoting to be found).
func dsnSetting(dsn, key string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			return u.Query().Get(key)
		}
		return ""
	}
	val := ""
	for _, f := range strings.Fields(dsn) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == key {
			val = strings.Trim(v, "'")
		}
	}
	return val
}

// withoutPassfile returns dsn with pgx told to read no password file.
func withoutPassfile(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		q := u.Query()
		q.Set("passfile", os.DevNull)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " passfile='" + os.DevNull + "'"
}

// insecurePassfile reports whether path is a regular file that its group
// or others may access.
func insecurePassfile(path string) (os.FileMode, bool) {
	if path == "" {
		return 0, false
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return 0, false
	}
	return st.Mode().Perm(), st.Mode().Perm()&0o077 != 0
}

// dropInsecurePassfile re-parses dsn without the password file when the
// password cfg holds came from a file that others may read, and warns.
func dropInsecurePassfile(cfg *pgxpool.Config, dsn string, log *slog.Logger) *pgxpool.Config {
	if cfg.ConnConfig.Password == "" {
		return cfg
	}
	path := passfilePath(dsn)
	mode, insecure := insecurePassfile(path)
	if !insecure {
		return cfg
	}
	alt, err := pgxpool.ParseConfig(withoutPassfile(dsn))
	if err != nil || alt.ConnConfig.Password == cfg.ConnConfig.Password {
		return cfg // the password came from the DSN or PGPASSWORD
	}
	if _, done := passfileWarned.LoadOrStore(path, struct{}{}); !done {
		if log == nil {
			log = slog.Default()
		}
		log.Warn(fmt.Sprintf("password file %s has group or world access (%04o); it is ignored, as libpq does: chmod 0600 it", path, mode))
	}
	return alt
}
