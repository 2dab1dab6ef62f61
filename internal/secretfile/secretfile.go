// Package secretfile reads the files that hold the gateway's secrets (the
// master key, the outbound CA's private key, webhook signing secrets) and
// refuses one that users other than its owner may read or change: whoever
// reads the master key decrypts the vault, whoever reads the CA key can
// impersonate any processor to the merchant's backend, whoever reads a
// webhook secret can sign events its receiver trusts. The configuration
// file is held to the same rule (Exposed) when it holds a secret: the
// admin token or a store password. Files that hold no secret but say
// where card data goes (the routes file, the configuration file) are
// refused when any user may write them (OthersMayWrite).
//
// Only a regular file is opened (internal/regfile: a FIFO would block the
// open), and its mode is read from the open file, which must be the file
// looked up: what is checked is what is read.
package secretfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/aliasgate/aliasgate/internal/regfile"
)

// ErrExposed is wrapped by Read's error for a file whose mode lets its
// group or others read, write or execute it.
var ErrExposed = errors.New("readable by group or others")

// Exposed returns an error wrapping ErrExposed, naming path, its mode and
// the chmod that fixes it, when fi's mode has any group or other bit set;
// nil otherwise. Read applies it to the file it opened; a caller that
// reads a file holding secrets among other things (a configuration file
// with admin.token) applies it when the file holds one.
func Exposed(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is %w (mode %04o); run chmod 600 on it", path, ErrExposed, perm)
	}
	return nil
}

// ErrOthersMayWrite is wrapped by OthersMayWrite's error.
var ErrOthersMayWrite = errors.New("writable by any user")

// OthersMayWrite returns an error wrapping ErrOthersMayWrite, naming path,
// its mode and the chmod that fixes it, when fi's mode lets users other
// than the owner and the group write the file (o+w); nil otherwise. It is
// the rule for a file that holds no secret but says where card data goes
// (the routes file): any account on the host could send it elsewhere.
func OthersMayWrite(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o002 != 0 {
		return fmt.Errorf("%s is %w (mode %04o): any account on this host could change where card data goes; run chmod o-w on it", path, ErrOthersMayWrite, perm)
	}
	return nil
}

// maxSize bounds what Read reads: a secret file is a few kilobytes at most.
const maxSize = 1 << 20

// Read returns the content of the secret file at path. The error wraps
// os.ErrNotExist when there is no such file, and ErrExposed (with the
// file's mode and the chmod that fixes it) when its mode has any group or
// other bit set. A symbolic link to a file that does not exist (a secrets
// volume not mounted) is an error naming its target, not os.ErrNotExist:
// a caller that makes a missing secret must not make another in its place.
func Read(path string) ([]byte, error) {
	// A FIFO or a device would block the open (or feed it without end):
	// only a regular file is opened, and the open one must be it.
	f, fi, err := regfile.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if target, lerr := os.Readlink(path); lerr == nil {
			return nil, fmt.Errorf("%s is a symbolic link to %s, which does not exist", path, target)
		}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := Exposed(path, fi); err != nil {
		return nil, err
	}
	b, err := regfile.ReadOpen(f, path, maxSize)
	if errors.Is(err, regfile.ErrTooLarge) {
		return nil, fmt.Errorf("%s is over %d bytes, not a secret file", path, maxSize)
	}
	return b, err
}
