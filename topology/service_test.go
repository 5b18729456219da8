package topology

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestVersionFromBuildInfo builds routeops from a clean git clone of this
// repository, as a release build would be made, and checks that
// --version and `routeops version` print the module version and the VCS
// revision from the binary's build information.
func TestVersionFromBuildInfo(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is needed to build routeops from a checkout: %v", err)
	}
	top, err := exec.Command(git, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("this test builds from the git checkout the tests run in, and found none: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "routeops")
	if out, err := exec.Command(git, "clone", "--quiet", "--no-hardlinks", strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	rev, err := exec.Command(git, "-C", clone, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	revision := strings.TrimSpace(string(rev))
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "routeops")
	build := exec.Command(goBin, "build", "-buildvcs=true", "-o", bin, "./cmd/routeops")
	build.Dir = clone
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true in a clone: %v\n%s", err, out)
	}
	run := func(args ...string) string {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("routeops %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	flag, cmd := run("--version"), run("version")
	if flag != cmd {
		t.Errorf("--version and version differ:\n%s\n%s", flag, cmd)
	}
	// The module version is the pseudo-version of the commit, and the
	// revision is the commit itself.
	if !strings.HasPrefix(flag, "routeops v0.0.0-") && !strings.HasPrefix(flag, "routeops v") ||
		!strings.Contains(flag, revision[:12]) || !strings.Contains(flag, "(revision "+revision) || strings.Contains(flag, "(devel)") {
		t.Fatalf("--version of a build at %s:\n%s", revision, flag)
	}
	var v struct {
		Version, Revision string
		Modified          bool
		SchemaVersion     int `json:"schema_version"`
	}
	if err := json.Unmarshal([]byte(run("version", "-o", "json")), &v); err != nil || v.Revision != revision ||
		!strings.Contains(v.Version, revision[:12]) || v.Modified || v.SchemaVersion == 0 {
		t.Fatalf("version -o json: %+v %v", v, err)
	}
	t.Logf("%s", strings.TrimSpace(flag))
}

// TestServiceFace: what a service manager relies on. The DSN comes from a
// credential ($CREDENTIALS_DIRECTORY/dsn, as systemd's LoadCredential=
// provides it) with its password never shown; --log-format json makes
// every log line a JSON object.
func TestServiceFace(t *testing.T) {
	dsn := pgtest.NewDB(t)
	const pw = "credential-password-123"
	withPW := strings.Replace(dsn, "postgres@", "postgres:"+pw+"@", 1)
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "dsn"), []byte(withPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := harness.New(t, "").With("CREDENTIALS_DIRECTORY=" + creds)
	c.Must("seed", "--orgs", "2", "--items-per-org", "10", "--yes")
	var cfg map[string]any
	r := c.MustJSON(&cfg, 0, "config", "-o", "json")
	if cfg["dsn"] != strings.Replace(withPW, pw, "xxxxx", 1) || strings.Contains(r.Stdout+r.Stderr, pw) {
		t.Fatalf("config with the DSN from a credential:\n%s", r)
	}
	if out := c.Must("config").Stdout; !strings.Contains(out, "credential "+filepath.Join(creds, "dsn")) || strings.Contains(out, pw) {
		t.Fatalf("config does not name the credential as the source:\n%s", out)
	}
	res := c.Must("serve", "--until-idle", "--log-format", "json")
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if len(lines) < 2 || strings.Contains(res.Stderr, pw) {
		t.Fatalf("serve --log-format json:\n%s", res)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["msg"] == nil || rec["level"] == nil {
			t.Fatalf("not a JSON log record: %q (%v)", l, err)
		}
	}
}

// TestScopedRepairExitCode: `repair apply --org X` exits 0 when X is
// clean afterwards, whatever other orgs still hold, and says so.
func TestScopedRepairExitCode(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn).With("ROUTEOPS_DRILL_ALLOW=true")
	c.Must("seed", "--orgs", "2", "--items-per-org", "10", "--agents-per-org", "1", "--capacity", "1", "--yes")
	for _, org := range []string{"org-0001", "org-0002"} {
		c.Must("drill", "inject", "missing-revisions", "--org", org, "--count", "2", "--yes")
	}
	r := c.Must("repair", "apply", "--org", "org-0001", "--yes")
	if !strings.Contains(r.Stdout, "verify: clean in org-0001") || !strings.Contains(r.Stdout, "in other orgs") {
		t.Fatalf("a scoped repair with another org still broken:\n%s", r)
	}
	if r := c.Expect(2, "verify"); !strings.Contains(r.Stdout, "org-0002") {
		t.Fatalf("verify should still find org-0002's items:\n%s", r)
	}
	c.Must("repair", "apply", "--yes")
	c.Must("verify")
}
