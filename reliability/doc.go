// Package reliability holds routeops's end-to-end reliability and security
// tests: they build the routeops binary, run it against a real PostgreSQL
// (pgtest), kill it, restart the database under it, race operators against
// the engine, feed it bad input, and run it under the routeops_viewer and
// routeops_operator roles. RELIABILITY.md at the repository root maps each
// promise to the test that proves it. The package has no non-test code.
package reliability
