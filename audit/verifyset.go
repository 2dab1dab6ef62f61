package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// SetResult sums up a rotated set of files that verified.
type SetResult struct {
	// Files are the files verified in chain order: the rotated files,
	// oldest first, then the current one.
	Files []FileResult
	// Lines and Recovered add up the files' (see VerifyResult).
	Lines     int
	Recovered int
	// LastEvent and LastActor are the event and actor of the set's last
	// line.
	LastEvent string
	LastActor string
	// FirstSeq is the seq of the set's first line: 1, or more when the
	// oldest rotated files were removed (audit.keep, or by an operator).
	FirstSeq uint64
	// CurrentMissing: the current file does not exist but rotated files
	// do, a rotation that a crash cut short before the new file's first
	// line (the next append continues the chain in a new file).
	CurrentMissing bool
	// RotationPending: the current file ends with its audit_rotated line,
	// a rotation that a crash cut short before the rename (the next append
	// finishes it).
	RotationPending bool
}

// FileResult is one file of a verified set.
type FileResult struct {
	Path string
	// Lines counts the file's lines; FirstSeq and LastSeq are the seqs of
	// its first and last lines (0 for an empty file).
	Lines             int
	FirstSeq, LastSeq uint64
}

// VerifySet verifies the log at path together with its rotated files
// (<path>.<seq>.<time>, see RotatedName), in chain order: each file as
// VerifyFile does, then that each rotated file ends with the audit_rotated
// line that names it and that the next file continues its chain (seq and
// prev). A missing file between two others is a *VerifyError of kind
// KindMissingFile; a rotated file cut short, renamed or out of order, and a
// file from another chain, are reported too. The oldest file may start
// after seq 1 with an audit_continued line: the files before it were
// removed, which SetResult.FirstSeq shows. A rotation during the check
// makes it start again.
func VerifySet(path string, keys Keys) (SetResult, error) {
	for attempt := 0; ; attempt++ {
		res, stale, err := verifySetOnce(path, keys, rotatedFiles)
		if stale && attempt < 10 {
			continue
		}
		return res, err
	}
}

// verifySetOnce opens every file of the set (listed by list: rotatedFiles),
// checks that no rotation happened meanwhile (stale), and verifies them.
func verifySetOnce(path string, keys Keys, list func(string) ([]rotatedFile, error)) (res SetResult, stale bool, err error) {
	rotated, err := list(path)
	if err != nil {
		return res, false, err
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, r := range rotated {
		f, err := openRead(r.path)
		if err != nil {
			return res, errors.Is(err, fs.ErrNotExist), fmt.Errorf("audit: %w", err)
		}
		files = append(files, f)
	}
	cur, err := openRead(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && len(rotated) > 0:
		res.CurrentMissing = true
	case errors.Is(err, fs.ErrNotExist):
		// No file yet, or a first rotation renamed it after the list
		// was read (stale: read again).
		again, lerr := list(path)
		if lerr == nil && len(again) > 0 {
			return res, true, nil
		}
		return res, false, fmt.Errorf("audit: %w", err)
	case err != nil:
		return res, false, fmt.Errorf("audit: %w", err)
	default:
		files = append(files, cur)
	}
	again, err := list(path)
	if err != nil {
		return res, false, err
	}
	if !slices.Equal(rotated, again) {
		return res, true, nil
	}
	var prev VerifyResult
	for i, f := range files {
		name := filepath.Base(f.Name())
		r, err := verifyOpen(f, keys, i > 0)
		if err != nil {
			var ve *VerifyError
			if errors.As(err, &ve) {
				ve.File = name
			}
			return res, false, err
		}
		isRotated := i < len(rotated)
		if i > 0 {
			if err := link(files[i-1].Name(), prev, name, r); err != nil {
				return res, false, err
			}
		} else {
			res.FirstSeq = r.FirstSeq
		}
		if isRotated {
			if r.LastEvent != EventRotated {
				return res, false, &VerifyError{File: name, Line: r.Lines + r.Recovered + 1, Kind: KindTruncated, Detail: fmt.Sprintf(
					"a rotated file ends with its audit_rotated line, this one with %s: lines were cut off its end", eventOrNothing(r))}
			}
			if r.lastFile != name {
				return res, false, &VerifyError{File: name, Line: r.Lines + r.Recovered, Kind: KindReordered, Detail: fmt.Sprintf(
					"its audit_rotated line names %s: the file was renamed", r.lastFile)}
			}
		} else if r.LastEvent == EventRotated && r.lastFile != name {
			res.RotationPending = true // (a rotated file given as path names itself)
		}
		res.Files = append(res.Files, FileResult{Path: f.Name(), Lines: r.Lines, FirstSeq: r.FirstSeq, LastSeq: r.lastSeq})
		res.Lines += r.Lines
		res.Recovered += r.Recovered
		if r.Lines > 0 {
			res.LastEvent, res.LastActor = r.LastEvent, r.LastActor
			prev = r
		}
	}
	return res, false, nil
}

// link checks that the file named next (verified as r) continues the chain
// of the one before it (prevPath, verified as prev).
func link(prevPath string, prev VerifyResult, next string, r VerifyResult) error {
	if r.Lines == 0 {
		return nil // a new current file, its first line not written yet
	}
	prevName := filepath.Base(prevPath)
	switch {
	case r.FirstSeq > prev.lastSeq+1:
		detail := fmt.Sprintf("it starts at seq %d but %s ends at seq %d: a file between them is missing (seq %d to %d)",
			r.FirstSeq, prevName, prev.lastSeq, prev.lastSeq+1, r.FirstSeq-1)
		if r.firstEvent == EventContinued && r.firstFile != prevName {
			detail += fmt.Sprintf("; its audit_continued line says it follows %s, which is not in the set", r.firstFile)
		}
		return &VerifyError{File: next, Line: 1, Kind: KindMissingFile, Detail: detail}
	case r.FirstSeq <= prev.lastSeq:
		return &VerifyError{File: next, Line: 1, Kind: KindReordered, Detail: fmt.Sprintf(
			"it starts at seq %d, not after the last line of %s (seq %d): files out of order or copied", r.FirstSeq, prevName, prev.lastSeq)}
	case r.firstPrev != prev.lastMac:
		return &VerifyError{File: next, Line: 1, Kind: KindReordered, Detail: fmt.Sprintf(
			"it does not chain from the last line of %s (prev differs): a file of another log, or a replaced one", prevName)}
	}
	return nil
}

// eventOrNothing names a file's last event for a message.
func eventOrNothing(r VerifyResult) string {
	if r.Lines == 0 {
		return "no line"
	}
	return r.LastEvent
}
