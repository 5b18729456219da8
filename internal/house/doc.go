// Package house holds, as tests, the rules of the house that the code's
// shape must keep: short functions, console files of one view's size, cmd
// wiring without the demo's internals, SQL only in router/pgstore.
package house
