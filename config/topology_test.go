package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routeops/routeops/redact"
)

// TestEveryDSNIsASecret: the listen and read DSNs are redacted like dsn
// in `routeops config`, in errors, and by Scrub.
func TestEveryDSNIsASecret(t *testing.T) {
	c, _ := setup{env: map[string]string{
		"ROUTEOPS_DSN":           "postgres://u:pw-main@h/db",
		"ROUTEOPS_DB_LISTEN_DSN": "postgres://u:pw-listen@h:5432/db",
		"ROUTEOPS_DB_READ_DSN":   "host=replica user=u password=pw-read dbname=db",
		"ROUTEOPS_DB_POOLER":     "transaction",
	}}.mustLoad(t)
	r := c.Redacted()
	for _, k := range []string{"dsn", "db.listen_dsn", "db.read_dsn"} {
		if s := r[k].(string); strings.Contains(s, "pw-") || !strings.Contains(s, redact.Mask) {
			t.Errorf("%s shows as %q", k, s)
		}
	}
	if c.DB.Pooler != "transaction" || c.DB.ReadDSN == "" || c.DB.ListenDSN == "" {
		t.Fatalf("loaded %+v", c.DB)
	}
	msg := "connect to postgres://u:pw-listen@h:5432/db failed; replica said password=pw-read; main pw-main"
	if s := c.Scrub(msg); strings.Contains(s, "pw-") {
		t.Errorf("Scrub left a password: %s", s)
	}
	// A bad value elsewhere never echoes a DSN's password either.
	_, _, err := setup{env: map[string]string{
		"ROUTEOPS_DB_READ_DSN":   "postgres://u:pw-read@h/db",
		"ROUTEOPS_DB_MAX_CONNS":  "pw-read",
		"ROUTEOPS_DB_LISTEN_DSN": "postgres://u:pw-listen@h/db",
	}}.load(t)
	if err == nil || strings.Contains(err.Error(), "pw-read") {
		t.Errorf("error: %v", err)
	}
}

// TestCredentials: a secret key is read from $CREDENTIALS_DIRECTORY/<key>
// (systemd LoadCredential=), above the file and below the environment,
// and its source says so.
func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("dsn", "postgres://svc:cred-pw@db1,db2/support?target_session_attrs=read-write\n")
	write("db.listen_dsn", "postgres://svc:cred-pw@db1/support")
	c, w := setup{file: "dsn: postgres://file@h/db\n", env: map[string]string{CredentialsEnv: dir}}.mustLoad(t)
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	if c.DSN != "postgres://svc:cred-pw@db1,db2/support?target_session_attrs=read-write" || c.DB.ListenDSN != "postgres://svc:cred-pw@db1/support" {
		t.Fatalf("DSNs from credentials: %q %q", c.DSN, c.DB.ListenDSN)
	}
	if src := c.Source("dsn"); src != "credential "+filepath.Join(dir, "dsn") {
		t.Errorf("source %q", src)
	}
	if c.Source("db.read_dsn") != "default" {
		t.Errorf("read_dsn source %q", c.Source("db.read_dsn"))
	}
	// The environment still wins.
	c, _ = setup{env: map[string]string{CredentialsEnv: dir, "ROUTEOPS_DSN": "postgres://env@h/db"}}.mustLoad(t)
	if c.DSN != "postgres://env@h/db" {
		t.Errorf("env under a credential: %q", c.DSN)
	}
	// A credential that cannot be read is an error naming the file, never
	// its content.
	if err := os.Mkdir(filepath.Join(dir, "db.read_dsn"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, _, err := setup{env: map[string]string{CredentialsEnv: dir}}.load(t)
	if err == nil || !strings.Contains(err.Error(), "db.read_dsn") || strings.Contains(err.Error(), "cred-pw") {
		t.Errorf("unreadable credential: %v", err)
	}
}

// TestExampleFileIsCurrent: docs/deploy/routeops.example.yaml is what
// `routeops config --example` prints, names every key, and loads to the
// defaults without a warning.
func TestExampleFileIsCurrent(t *testing.T) {
	path := filepath.Join("..", "docs", "deploy", "routeops.example.yaml")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != ExampleFile() {
		t.Fatalf("%s is out of date: regenerate it with\n  go run ./cmd/routeops config --example > docs/deploy/routeops.example.yaml", path)
	}
	c, w := setup{file: string(got)}.mustLoad(t)
	if len(w) != 0 {
		t.Errorf("the example file draws warnings: %q", w)
	}
	d := Default().Redacted()
	for k, v := range c.Redacted() {
		if d[k] != v {
			t.Errorf("%s: the example sets %#v, the default is %#v", k, v, d[k])
		}
		if c.Source(k) != "file "+c.File {
			t.Errorf("%s is not set by the example file (source %s)", k, c.Source(k))
		}
	}
}

// TestREADMEConfigTable: README's configuration table lists every key as
// Reference documents it.
func TestREADMEConfigTable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), MarkdownTable()) {
		t.Fatalf("README.md's configuration table is out of date; it should be, exactly:\n%s", MarkdownTable())
	}
}
