package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/routeops/routeops/router"
)

// redactErr renders an error with any password from the DSN removed.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if pw := passwordOf(dsn); pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

func passwordOf(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil || cfg.Password == "" {
		return ""
	}
	return cfg.Password
}

// explainConnErr turns connection failures into the operator's words.
func explainConnErr(err error, dsn string) string {
	msg := redactErr(err, dsn)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", "28000":
			return "authentication failed: wrong user or password (" + pe.Message + ")"
		case "3D000":
			return "the database does not exist (" + pe.Message + ")"
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "timeout") {
		return "unreachable within the connect timeout (" + msg + ")"
	}
	return msg
}

// IsPermission reports whether err is PostgreSQL refusing a privilege.
func IsPermission(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}

// wrap turns well-known PostgreSQL errors into the operator's words.
func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "42501":
			return fmt.Errorf("%w: the database role lacks a privilege this needs (%s); operator actions need a member of routeops_operator, and the engine (serve, or a console with its engine) needs the schema owner's rights", router.ErrPermission, pe.Message)
		case "55P03":
			return fmt.Errorf("gave up waiting for a lock after the lock timeout (%s); try again", pe.Message)
		case "57014":
			return fmt.Errorf("the statement timed out (%s)", pe.Message)
		case "42P01":
			return fmt.Errorf("%s: %w", pe.Message, ErrNoSchema)
		case "22P02", "22P05", "22021", "54001":
			// PostgreSQL refused the attributes as jsonb (bad escapes, \u0000,
			// bad encoding, too deep).
			return fmt.Errorf("%w: %s", router.ErrInvalidJSON, pe.Message)
		}
	}
	if s != nil {
		if pw := passwordOf(s.opts.DSN); pw != "" && strings.Contains(err.Error(), pw) {
			return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
		}
	}
	return err
}

// wrapFK reports a foreign-key violation as ErrNotFound.
func (s *Store) wrapFK(err error, format string, args ...any) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return router.NotFoundf(format, args...)
	}
	return s.wrap(err)
}
