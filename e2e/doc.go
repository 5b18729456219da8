// Package e2e holds routeops's end-to-end acceptance tests: they build the
// routeops binary once, run it the way a new user would (no terminal, a
// controlled environment, a fresh PostgreSQL database per test, tmux for
// the console), and check what the acceptance lists promise,
// against the database through raw SQL.
package e2e
