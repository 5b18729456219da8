// Package testbin builds the routeops binary once per test binary, for the
// tests that drive it as a user would (e2e, reliability).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once sync.Once
	dir  string
	path string
	err  error
)

// Path builds ./cmd/routeops (without -race: the tests that use it kill and
// restart it, and the in-process tests cover the race detector) the first
// time it is called, and returns the binary's path.
func Path(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if dir, err = os.MkdirTemp("", "routeops-bin-"); err != nil {
			return
		}
		path = filepath.Join(dir, "routeops")
		goBin, lerr := exec.LookPath("go")
		if lerr != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		out, berr := exec.Command(goBin, "build", "-o", path, "github.com/routeops/routeops/cmd/routeops").CombinedOutput()
		if berr != nil {
			err = fmt.Errorf("go build ./cmd/routeops: %v\n%s", berr, out)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Cleanup removes the built binary; TestMain calls it after the tests.
func Cleanup() {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}
