package reliability

import (
	"sync"
	"testing"

	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// The password server: a private PostgreSQL on which every role but the
// superuser must log in with a password (scram-sha-256). The access and
// wrong-password tests share it; TestMain stops it.
var (
	pwOnce sync.Once
	pwSrv  *pgtest.Server
	pwErr  error
)

func passwordServer(t testing.TB) *pgtest.Server {
	t.Helper()
	pwOnce.Do(func() { pwSrv, pwErr = pgtest.NewPrivate(pgtest.PrivateOptions{PasswordAuth: true}) })
	if pwErr != nil {
		t.Fatalf("pgtest: no private PostgreSQL with password authentication: %v\n"+
			"Install the PostgreSQL server binaries (Debian: apt-get install postgresql).", pwErr)
	}
	return pwSrv
}

func closePrivate() {
	if pwSrv != nil {
		pwSrv.Close()
	}
}
