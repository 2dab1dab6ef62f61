package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aliasgate/aliasgate/internal/regfile"
)

// Kinds of VerifyError.
const (
	// KindEdited: the line is not what was written (its HMAC does not
	// match, or it is not an audit line at all).
	KindEdited = "edited"
	// KindRemoved: lines are missing before this one.
	KindRemoved = "removed"
	// KindReordered: the line is out of order (or a copy of another).
	KindReordered = "reordered"
	// KindTruncated: the last line is incomplete.
	KindTruncated = "truncated"
	// KindGap: the gateway found lines missing while it ran and recorded
	// it here.
	KindGap = "gap"
	// KindMissingFile: a file of a rotated set is missing before this one
	// (VerifySet).
	KindMissingFile = "missing_file"
)

// VerifyError names the first line where a log's chain breaks.
type VerifyError struct {
	// File is the file's name (without its directory) in errors of
	// VerifySet; empty from Verify and VerifyFile.
	File   string
	Line   int    // 1-based line number in the file
	Kind   string // one of the Kind* constants
	Detail string
}

func (e *VerifyError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s: line %d: %s: %s", e.File, e.Line, e.Kind, e.Detail)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Kind, e.Detail)
}

// VerifyResult sums up a log that verified.
type VerifyResult struct {
	// Lines counts the lines that verified.
	Lines int
	// Recovered counts torn lines (crashes) followed by their
	// audit_recovered line.
	Recovered int
	// LastEvent is the event of the last line ("" for an empty log). A log
	// of a stopped gateway normally ends with gateway_stopped; anything
	// else while no gateway runs may mean that lines were cut off its end.
	LastEvent string
	// LastActor is the actor of the last line: ActorCLI for a line a
	// command wrote while no gateway ran (clients create, keys rotate),
	// which, like gateway_stopped, ends the log cleanly.
	LastActor string
	// FirstSeq is the seq of the first line: 1, or more for a file that
	// starts with an audit_continued line (one that a rotation started).
	FirstSeq uint64

	// The ends of the chain, for VerifySet.
	firstPrev, firstEvent, firstFile string
	lastSeq                          uint64
	lastMac, lastFile                string
}

// VerifyFile verifies the log at path (see Verify). A gateway may append
// meanwhile: the file is read up to the size it had when the check began,
// and an incomplete last line of a file that has grown since (an append in
// progress, not a torn one) makes it check again.
//
// A file that starts with an audit_continued line (one that follows a
// rotation) verifies from that line on, with FirstSeq saying where; VerifySet
// checks a rotated set as a whole.
func VerifyFile(path string, keys Keys) (VerifyResult, error) {
	f, err := openRead(path)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	return verifyOpen(f, keys, false)
}

// openRead opens a file of the log to read it: a regular file only, as
// the Writer appends to (openLogFile). A link to /dev/null in the current
// file's place would verify as an empty file, and a FIFO would block.
func openRead(path string) (*os.File, error) {
	f, _, err := regfile.OpenFile(path, os.O_RDONLY, 0)
	return f, err
}

// verifyOpen verifies an open file (see VerifyFile); anyStart accepts a
// first line with any seq and prev (VerifySet checks the links itself).
func verifyOpen(f *os.File, keys Keys, anyStart bool) (VerifyResult, error) {
	for attempt := 0; ; attempt++ {
		fi, err := f.Stat()
		if err != nil {
			return VerifyResult{}, fmt.Errorf("audit: %w", err)
		}
		v := verifier{keys: keys, br: bufio.NewReaderSize(io.NewSectionReader(f, 0, fi.Size()), 64<<10),
			prevMac: genesis, expSeq: 1, anyStart: anyStart}
		res, err := v.run()
		var ve *VerifyError
		if attempt < 10 && errors.As(err, &ve) && ve.Kind == KindTruncated {
			if now, serr := f.Stat(); serr == nil && now.Size() > fi.Size() {
				continue
			}
		}
		return res, err
	}
}

// Verify reads a log and checks every line's HMAC, that seq counts up from
// 1 and that each prev is the mac of the line before. It returns a
// *VerifyError for the first line that breaks the chain, naming how: an
// edited line, lines removed before it, a line out of order, or an
// incomplete last line. A torn line followed by the audit_recovered line
// the next Writer wrote for it is accepted (a crash, not tampering). A log
// that starts with an audit_continued line (after a rotation), or with a
// torn line, its audit_recovered line and the audit_continued line (a
// rotation's first line torn), is checked from there
// (VerifyResult.FirstSeq); a recovery after seq 1 at the start of a file
// that no audit_continued line follows is lines removed before it. No line
// may follow an audit_rotated line.
func Verify(r io.Reader, keys Keys) (VerifyResult, error) {
	v := verifier{keys: keys, br: bufio.NewReaderSize(r, 64<<10), prevMac: genesis, expSeq: 1}
	return v.run()
}

type verifier struct {
	keys      Keys
	br        *bufio.Reader
	lineNo    int
	prevMac   string
	expSeq    uint64
	res       VerifyResult
	anyStart  bool // the first line may have any seq and prev
	rotatedAt int  // the line number of an audit_rotated line, 0 if none
	// recoveredAt is the line number of an audit_recovered line that
	// started the file after seq 1 (its torn line first in the file), 0 if
	// none: the next line must be the audit_continued line written with it.
	recoveredAt int
}

type badLine struct {
	no    int
	bytes int64
	err   error
}

func (b *badLine) verifyError(keysHint bool) *VerifyError {
	detail := "it is not an audit line"
	if errors.Is(b.err, errBadMAC) {
		detail = "its HMAC does not match its content"
		if keysHint {
			detail += " (or the master key is not this log's)"
		}
	}
	return &VerifyError{Line: b.no, Kind: KindEdited, Detail: detail}
}

func (v *verifier) next() ([]byte, bool, error) {
	b, err := v.br.ReadBytes('\n')
	if len(b) == 0 && errors.Is(err, io.EOF) {
		return nil, false, io.EOF
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, fmt.Errorf("audit: read: %w", err)
	}
	v.lineNo++
	if b[len(b)-1] != '\n' {
		return b, false, nil
	}
	return b[:len(b)-1], true, nil
}

func (v *verifier) run() (VerifyResult, error) {
	var pending *badLine // an invalid line that a recovery line may explain
	for {
		b, whole, err := v.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return v.res, err
		}
		if !whole {
			if pending != nil {
				return v.res, pending.verifyError(v.res.Lines == 0)
			}
			return v.res, &VerifyError{Line: v.lineNo, Kind: KindTruncated,
				Detail: "the last line is incomplete (a torn write the gateway has not recovered yet, or the file was cut)"}
		}
		l, err := v.keys.parse(b)
		if err != nil {
			if pending != nil {
				return v.res, pending.verifyError(v.res.Lines == 0)
			}
			pending = &badLine{no: v.lineNo, bytes: int64(len(b)) + 1, err: err}
			continue
		}
		if v.rotatedAt > 0 {
			return v.res, &VerifyError{Line: v.lineNo, Kind: KindReordered, Detail: fmt.Sprintf(
				"it follows the audit_rotated line that closed this file (line %d)", v.rotatedAt)}
		}
		if v.res.Lines == 0 && (v.anyStart || l.Event == EventContinued || l.Event == EventRecovered && pending != nil) {
			v.expSeq, v.prevMac = l.Seq, l.Prev // a file that a rotation started
			if !v.anyStart && l.Event == EventRecovered && (l.Seq != 1 || l.Prev != genesis) {
				v.recoveredAt = v.lineNo
			}
		}
		if v.recoveredAt > 0 && v.res.Lines == 1 && l.Event != EventContinued {
			return v.res, v.removedBeforeRecovery()
		}
		if pending != nil {
			if l.Event != EventRecovered || l.TornBytes != pending.bytes || l.Seq != v.expSeq || l.Prev != v.prevMac {
				return v.res, pending.verifyError(v.res.Lines == 0)
			}
			pending = nil
			v.res.Recovered++
		}
		if l.Seq != v.expSeq || l.Prev != v.prevMac {
			return v.res, v.chainError(l)
		}
		if l.Event == EventGap {
			return v.res, &VerifyError{Line: v.lineNo, Kind: KindGap, Detail: fmt.Sprintf(
				"the gateway found that lines it had written (up to seq %d) were cut from the log while it ran", l.ExpectedSeq)}
		}
		if v.res.Lines == 0 {
			v.res.FirstSeq, v.res.firstPrev, v.res.firstEvent, v.res.firstFile = l.Seq, l.Prev, l.Event, l.File
		}
		if l.Event == EventRotated {
			v.rotatedAt, v.res.lastFile = v.lineNo, l.File
		}
		v.prevMac, v.expSeq = l.Mac, l.Seq+1
		v.res.Lines++
		v.res.LastEvent, v.res.LastActor, v.res.lastSeq, v.res.lastMac = l.Event, l.Actor, l.Seq, l.Mac
	}
	if pending != nil {
		return v.res, pending.verifyError(v.res.Lines == 0)
	}
	if v.recoveredAt > 0 && v.res.Lines == 1 {
		return v.res, v.removedBeforeRecovery()
	}
	return v.res, nil
}

// removedBeforeRecovery is the error of a file whose first valid line is
// an audit_recovered line after seq 1 that no audit_continued line
// follows. A Writer that finds a file without a whole line writes the
// recovery of its torn line and, when the file continues a rotated one,
// the audit_continued line in one write; a recovery after seq 1 with
// anything else after it is the recovery of a crash in the middle of the
// file, whose lines before the torn one were removed. (A second crash that
// cuts that very write short is reported so too: the file alone cannot tell
// it apart.)
func (v *verifier) removedBeforeRecovery() *VerifyError {
	what := fmt.Sprintf("the line with seq %d is", v.res.FirstSeq-1)
	if v.res.FirstSeq > 2 {
		what = fmt.Sprintf("the lines with seq 1 to %d are", v.res.FirstSeq-1)
	}
	return &VerifyError{Line: v.recoveredAt, Kind: KindRemoved, Detail: what +
		" missing before it: a file starts with a recovered torn line after seq 1 only where a rotation started it, and then audit_continued follows"}
}

// chainError classifies a valid line that does not follow the one before:
// removed lines when the seqs it skips appear nowhere later, reordered
// ones otherwise.
func (v *verifier) chainError(l line) *VerifyError {
	no := v.lineNo
	switch {
	case l.Seq > v.expSeq:
		later := v.seqsAfter()
		for s := v.expSeq; s < l.Seq && s < v.expSeq+1<<20; s++ {
			if later[s] {
				return &VerifyError{Line: no, Kind: KindReordered, Detail: fmt.Sprintf(
					"it has seq %d where %d was expected, and seq %d comes later in the file", l.Seq, v.expSeq, s)}
			}
		}
		what := fmt.Sprintf("the line with seq %d is", v.expSeq)
		if l.Seq-v.expSeq > 1 {
			what = fmt.Sprintf("the lines with seq %d to %d are", v.expSeq, l.Seq-1)
		}
		return &VerifyError{Line: no, Kind: KindRemoved, Detail: what + " missing before it"}
	case l.Seq < v.expSeq:
		return &VerifyError{Line: no, Kind: KindReordered, Detail: fmt.Sprintf(
			"it has seq %d after seq %d (moved or duplicated)", l.Seq, v.expSeq-1)}
	}
	return &VerifyError{Line: no, Kind: KindReordered, Detail: "it does not chain from the line before it (prev differs)"}
}

// seqsAfter collects the seqs of the valid lines left in the file.
func (v *verifier) seqsAfter() map[uint64]bool {
	out := map[uint64]bool{}
	for {
		b, whole, err := v.next()
		if err != nil || !whole {
			return out
		}
		if l, err := v.keys.parse(b); err == nil {
			out[l.Seq] = true
		}
	}
}
