package docs

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/routeops/routeops/config"
)

// TestServiceUnit: the systemd unit for serve is hardened, and takes its
// DSNs as credentials named after the config keys that routeops reads
// from $CREDENTIALS_DIRECTORY, never on the command line. When
// systemd-analyze is installed, it verifies the unit too.
func TestServiceUnit(t *testing.T) {
	path := filepath.Join("deploy", "routeops-serve.service")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a setting: %q", path, line)
		}
		settings[k] = append(settings[k], v)
	}
	for k, want := range map[string]string{"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
		"ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": ""} {
		if got := settings[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s=%v, want %q", path, k, got, want)
		}
	}
	exec0 := strings.Join(settings["ExecStart"], " ")
	if !strings.Contains(exec0, " serve") || strings.Contains(exec0, "--dsn") || strings.Contains(exec0, "://") ||
		strings.Contains(strings.Join(settings["Environment"], " "), "DSN") {
		t.Errorf("%s: the DSN must not be on the command line or in the environment: ExecStart=%s", path, exec0)
	}
	creds := settings["LoadCredential"]
	if len(creds) == 0 {
		t.Fatalf("%s: no LoadCredential", path)
	}
	for _, c := range creds {
		name, _, _ := strings.Cut(c, ":")
		if !slices.Contains(config.Keys(), name) || !strings.Contains(name, "dsn") {
			t.Errorf("%s: credential %q is not a DSN key that routeops reads from $%s", path, name, config.CredentialsEnv)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze is not installed; the unit's structure was checked, not verified by systemd")
		return
	}
	// systemd-analyze verify wants ExecStart's binary to exist.
	unit, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "routeops-serve.service")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/routeops", "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", "--man=no", tmp).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, out)
	}
}
