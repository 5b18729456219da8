package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/routeops/routeops/router"
)

// TestErrorRedactsAndKeepsCause: whatever the cause's text and the
// operation say, Error() holds no form of the DSN's password, while
// errors.Is and errors.As still reach the sentinel, the *pgconn.PgError
// and the context error behind it.
func TestErrorRedactsAndKeepsCause(t *testing.T) {
	const pw = `S3cret! x`
	for _, dsn := range []string{
		"postgres://u:S3cret%21%20x@db.internal/routeops",
		`host=db.internal user=u password='S3cret! x' dbname=routeops`,
	} {
		for _, code := range []string{codeInsufficientPrivilege, codeLockNotAvailable, codeReadOnlyTransaction, "XX000"} {
			pe := &pgconn.PgError{Code: code, Message: fmt.Sprintf("server quotes %q", pw)}
			cause := fmt.Errorf("while at %s: %w (%w)", dsn, pe, context.Canceled)
			for _, c := range []struct {
				e    *Error
				perm bool // stands for router.ErrPermission
			}{
				{newError("talk to "+dsn, cause, dsn), code == codeInsufficientPrivilege},
				{connectError("connect to "+dsn, cause, dsn), false},
			} {
				e := c.e
				msg := e.Error()
				for _, s := range []string{pw, "S3cret", "S3cret%21%20x"} {
					if strings.Contains(msg, s) {
						t.Fatalf("%q holds %q", msg, s)
					}
				}
				var got *pgconn.PgError
				if !errors.As(e, &got) || got != pe || e.SQLState() != code {
					t.Fatalf("%v: the PgError %s is not reachable", e, code)
				}
				if !errors.Is(e, context.Canceled) {
					t.Fatalf("%v: context.Canceled is not reachable", e)
				}
				if errors.Is(e, router.ErrPermission) != c.perm {
					t.Fatalf("%v: errors.Is(router.ErrPermission) = %v", e, !c.perm)
				}
			}
		}
	}
}

// TestWrapKeepsStoreAnswers: the store's own answers pass wrap unchanged;
// driver errors become *Error.
func TestWrapKeepsStoreAnswers(t *testing.T) {
	s := &Store{opts: Options{DSN: "postgres://u:pw@h/db"}}
	for _, err := range []error{router.NotFoundf("item 1"), router.Conflictf("item 1"), router.ErrInvalidJSON} {
		if got := s.wrap(err); got != err {
			t.Fatalf("wrap(%v) = %v (%T), want it unchanged", err, got, got)
		}
	}
	if s.wrap(nil) != nil {
		t.Fatal("wrap(nil) is not nil")
	}
	e := s.wrap(errors.New("conn closed"))
	var se *Error
	if !errors.As(e, &se) || s.wrap(e) != e {
		t.Fatalf("wrap of a driver error: %v (%T), and wrapping it again must not nest", e, e)
	}
}
