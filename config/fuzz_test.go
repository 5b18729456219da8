package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routeops/routeops/redact"
	"github.com/routeops/routeops/redact/redacttest"
)

// FuzzLoadConfig feeds random bytes to Load as a YAML file, with a DSN line
// holding the password pw before or after them. Load must not panic; when
// it succeeds the config validates; and no error or warning holds the
// password, as written (percent-encoded) or decoded.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte("routing:\n  on_item_fault: skip\n"), "hunter2")
	f.Fuzz(func(t *testing.T, data []byte, pw string) {
		dir := t.TempDir()
		enc := redacttest.PercentEncodeAll(pw)
		dsnLine := "dsn: 'postgres://u:" + enc + "@h/db'\n"
		variants := [][]byte{
			append([]byte(dsnLine), data...),
			append(append(append([]byte(nil), data...), '\n'), dsnLine...),
		}
		for i, content := range variants {
			path := filepath.Join(dir, fmt.Sprintf("routeops%d.yaml", i))
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, warnings, err := Load(LoadOptions{File: path, Env: noEnv, Dir: dir})
			if err == nil {
				if verr := cfg.Validate(); verr != nil {
					t.Fatalf("Load succeeded but Validate fails: %v", verr)
				}
				if cfg.DSN != "" {
					if r := cfg.Redacted()["dsn"].(string); r != redact.DSN(cfg.DSN) {
						t.Fatalf("Redacted dsn %q", r)
					}
				}
			}
			if pw == "" {
				continue
			}
			msgs := warnings
			if err != nil {
				msgs = append(msgs, err.Error())
			}
			for _, m := range msgs {
				if strings.Contains(m, pw) || strings.Contains(m, enc) {
					t.Fatalf("message %q holds the password %q (file %q)", m, pw, content)
				}
			}
		}
	})
}
