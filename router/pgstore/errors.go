package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/routeops/routeops/redact"
	"github.com/routeops/routeops/router"
)

// Error is what pgstore returns when PostgreSQL, or the way to it, fails.
// Error() says what failed, in the operator's words where routeops knows
// the failure, and never holds the DSN's password. The cause stays
// reachable, as pgx's own errors keep theirs: errors.As finds the
// *pgconn.PgError (or *pgconn.ConnectError, net.Error, ...) behind it, and
// errors.Is finds the sentinel it stands for (router.ErrPermission,
// router.ErrNotFound, router.ErrInvalidJSON, ErrNoSchema) as well as
// context.Canceled and the like.
type Error struct {
	op   string // what was being done ("connect to postgres://u@h/db"), or ""
	msg  string // the explanation; "" for the cause's own message
	kind error  // the sentinel this error stands for, or nil
	err  error  // the cause
	dsn  string // the DSN whose password Error hides
}

func (e *Error) Error() string {
	msg := e.msg
	if msg == "" {
		msg = e.err.Error()
	}
	if e.op != "" {
		msg = e.op + ": " + msg
	}
	return redact.Text(msg, e.dsn)
}

// Unwrap returns the sentinel the error stands for, if any, and the cause.
func (e *Error) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// SQLState is the SQLSTATE of the PostgreSQL error behind e, or "".
func (e *Error) SQLState() string { return sqlState(e.err) }

// The SQLSTATE codes routeops acts on. This is the one place that names
// them; everything else asks the predicates below.
const (
	codeForeignKeyViolation   = "23503" // foreign_key_violation
	codeReadOnlyTransaction   = "25006" // read_only_sql_transaction
	codeInvalidAuthorization  = "28000" // invalid_authorization_specification
	codeInvalidPassword       = "28P01" // invalid_password
	codeInvalidCatalogName    = "3D000" // invalid_catalog_name: no such database
	codeInsufficientPrivilege = "42501" // insufficient_privilege
	codeUndefinedTable        = "42P01" // undefined_table
	codeUndefinedColumn       = "42703" // undefined_column
	codeLockNotAvailable      = "55P03" // lock_not_available: lock_timeout
	codeQueryCanceled         = "57014" // query_canceled: statement_timeout
	// PostgreSQL refuses text as jsonb with these: bad escapes, \u0000,
	// bad encoding, nesting too deep.
	codeInvalidTextRepresentation = "22P02"
	codeUntranslatableCharacter   = "22P05"
	codeCharacterNotInRepertoire  = "22021"
	codeStatementTooComplex       = "54001"
	// The schema's own refusals: attributes over the size limit
	// (migration 011), and a CHECK constraint such as the one on ids
	// (migration 010).
	codeAttributesTooLarge = "RO413"
	codeCheckViolation     = "23514"
)

// idConstraints are the CHECK constraints on org, queue, team and agent
// ids, and which kind of id each guards.
var idConstraints = map[string]string{
	"orgs_id_clean": "org", "queues_id_clean": "queue", "teams_id_clean": "team", "agents_id_clean": "agent",
	"orgs_id_check": "org", "queues_id_check": "queue", "teams_id_check": "team", "agents_id_check": "agent",
}

// idConstraint names the kind of id a CHECK violation guards, or "".
func idConstraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeCheckViolation {
		return idConstraints[pe.ConstraintName]
	}
	return ""
}

// IsAttributesTooLarge reports whether the schema refused attributes over
// its size limit.
func IsAttributesTooLarge(err error) bool { return sqlState(err) == codeAttributesTooLarge }

// sqlState returns the SQLSTATE of the PostgreSQL error in err's chain, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// pgMessage returns the PostgreSQL error's primary message, or err's text.
func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// IsPermission reports whether PostgreSQL refused err for lack of a
// privilege.
func IsPermission(err error) bool { return sqlState(err) == codeInsufficientPrivilege }

// IsLockTimeout reports whether a statement gave up waiting for a lock
// (lock_timeout).
func IsLockTimeout(err error) bool { return sqlState(err) == codeLockNotAvailable }

// IsStatementTimeout reports whether a statement was cancelled: by
// statement_timeout, or by a cancel request.
func IsStatementTimeout(err error) bool { return sqlState(err) == codeQueryCanceled }

// IsReadOnlyTransaction reports whether a write was refused because the
// transaction is read-only: a hot standby, or default_transaction_read_only.
func IsReadOnlyTransaction(err error) bool { return sqlState(err) == codeReadOnlyTransaction }

// IsForeignKeyViolation reports whether a write referenced a row that does
// not exist, or a delete left a reference dangling.
func IsForeignKeyViolation(err error) bool { return sqlState(err) == codeForeignKeyViolation }

// IsUndefinedTable reports whether a statement named a table that does not
// exist (on routeops's statements: the schema is missing).
func IsUndefinedTable(err error) bool { return sqlState(err) == codeUndefinedTable }

// IsUndefinedColumn reports whether a statement named a column that does
// not exist (on routeops's statements: the schema is older than the binary).
func IsUndefinedColumn(err error) bool { return sqlState(err) == codeUndefinedColumn }

// IsAuthFailure reports whether the server refused the login: a wrong
// user or password, or no pg_hba.conf entry lets it in.
func IsAuthFailure(err error) bool {
	c := sqlState(err)
	return c == codeInvalidPassword || c == codeInvalidAuthorization
}

// IsUnknownDatabase reports whether the DSN names a database that does not
// exist.
func IsUnknownDatabase(err error) bool { return sqlState(err) == codeInvalidCatalogName }

// IsConnectTimeout reports whether a connection attempt ran out of time.
func IsConnectTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)
}

// isInvalidJSON reports whether PostgreSQL refused text as jsonb.
func isInvalidJSON(err error) bool {
	switch sqlState(err) {
	case codeInvalidTextRepresentation, codeUntranslatableCharacter, codeCharacterNotInRepertoire, codeStatementTooComplex:
		return true
	}
	return false
}

// newError wraps a driver error. op says what was being done ("" inside a
// Store method, whose caller knows); dsn is the DSN whose password Error
// hides. A PostgreSQL error that routeops knows gets the operator's words
// and the sentinel it stands for.
func newError(op string, err error, dsn string) *Error {
	e := &Error{op: op, err: err, dsn: dsn}
	msg := pgMessage(err)
	switch {
	case IsPermission(err):
		e.kind = router.ErrPermission
		e.msg = fmt.Sprintf("%s: the database role lacks a privilege this needs (%s); operator actions need a member of "+
			"routeops_operator, and the engine (serve, or a console with its engine) needs the schema owner's rights",
			router.ErrPermission, msg)
	case IsLockTimeout(err):
		e.msg = fmt.Sprintf("gave up waiting for a lock after the lock timeout (%s); try again", msg)
	case IsStatementTimeout(err):
		e.msg = fmt.Sprintf("the statement timed out (%s)", msg)
	case IsReadOnlyTransaction(err):
		e.msg = fmt.Sprintf("the database refuses writes (%s): it is a hot standby, or default_transaction_read_only "+
			"is on; changes need the primary", msg)
	case IsUndefinedTable(err):
		e.kind = ErrNoSchema
		e.msg = fmt.Sprintf("%s: %s", msg, ErrNoSchema)
	case isInvalidJSON(err):
		e.kind = router.ErrInvalidJSON
		e.msg = fmt.Sprintf("%s: %s", router.ErrInvalidJSON, msg)
	case IsAttributesTooLarge(err):
		// Also matches router.ErrInvalidJSON: the bytes were refused.
		e.kind = router.ErrAttributesTooLarge
		e.msg = msg
	case idConstraint(err) != "":
		e.kind = router.ErrBadID
		e.msg = fmt.Sprintf("%s: a %s id must be 1 to %d characters without control or bidi characters (%s)",
			router.ErrBadID, idConstraint(err), router.MaxIDLen, msg)
	}
	return e
}

// connectError wraps a failure to reach the database, in the operator's
// words: a refused login, a missing database, or no answer in time.
func connectError(op string, err error, dsn string) *Error {
	e := &Error{op: op, err: err, dsn: dsn}
	switch {
	case IsAuthFailure(err):
		e.msg = "authentication failed: wrong user or password (" + pgMessage(err) + ")"
	case IsUnknownDatabase(err):
		e.msg = "the database does not exist (" + pgMessage(err) + ")"
	case IsConnectTimeout(err):
		e.msg = "unreachable within the connect timeout (" + err.Error() + ")"
	}
	return e
}

// wrap turns what a Store method's statements returned into its error:
// nil stays nil, the store's own answers (not found, conflict, invalid
// JSON, already an *Error) stay as they are, and anything else becomes an
// *Error (see newError).
func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*Error); ok {
		return err
	}
	if sqlState(err) == "" && (errors.Is(err, router.ErrNotFound) || errors.Is(err, router.ErrConflict) ||
		errors.Is(err, router.ErrInvalidJSON) || errors.Is(err, router.ErrBadID)) {
		return err
	}
	return newError("", err, s.opts.DSN)
}

// wrapFK reports a foreign key violation as the missing thing it names
// (ErrNotFound, keeping the PostgreSQL error as the cause), and wraps any
// other error.
func (s *Store) wrapFK(err error, format string, args ...any) error {
	if IsForeignKeyViolation(err) {
		return &Error{msg: fmt.Sprintf("%s: %s", router.ErrNotFound, fmt.Sprintf(format, args...)),
			kind: router.ErrNotFound, err: err, dsn: s.opts.DSN}
	}
	return s.wrap(err)
}
