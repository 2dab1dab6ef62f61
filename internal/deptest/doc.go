// Package deptest holds the test that enforces aliasgate's import rules
// (see the package layout in the README): it reads "go list -deps" and fails
// when a package imports what it must not.
package deptest
