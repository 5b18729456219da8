package memstore_test

import (
	"testing"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
	"github.com/routeops/routeops/router/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) router.Store {
		s := memstore.New()
		t.Cleanup(s.Close)
		return s
	})
}
