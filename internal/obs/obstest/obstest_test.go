package obstest

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

const testPAN = "4111111111111111"

// fakeTB records what obstest reports instead of failing the real test. Its
// embedded testing.TB is nil: calling a method it does not override panics,
// which would show that obstest needs more than it documents.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	logs     []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errors) > 0
}

// finish runs the cleanups like the testing package does: last in, first out.
func (f *fakeTB) finish() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

func TestLoggerFailsFakeTBOnPAN(t *testing.T) {
	tests := []struct {
		name    string
		log     func(l *slog.Logger)
		wantErr bool
	}{
		{"clean", func(l *slog.Logger) { l.Info("charged", "last4", "1111", "amount", 1999) }, false},
		{"masked", func(l *slog.Logger) { l.Info("charged", "pan", pan.Mask(testPAN)) }, false},
		{"not Luhn-valid", func(l *slog.Logger) { l.Info("n", "v", "4111111111111112") }, false},
		{"duration stays a string", func(l *slog.Logger) { l.Info("d", "d", 4111111111111111*time.Nanosecond) }, false},
		{"PAN in a string attr", func(l *slog.Logger) { l.Info("req", "body", `{"pan":"`+testPAN+`"}`) }, true},
		{"PAN in the message", func(l *slog.Logger) { l.Debug("card " + testPAN) }, true},
		{"PAN in a group", func(l *slog.Logger) { l.WithGroup("g").Warn("x", "v", testPAN) }, true},
		{"PAN as integer", func(l *slog.Logger) { l.Info("x", "n", int64(4111111111111111)) }, true},
		{"PAN in an error", func(l *slog.Logger) { l.Error("x", "err", fmt.Errorf("bad %s", testPAN)) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTB{}
			tt.log(Logger(f))
			if len(f.errors) != 0 {
				t.Fatalf("failed before cleanup: %v", f.errors)
			}
			f.finish()
			if got := len(f.errors) > 0; got != tt.wantErr {
				t.Fatalf("failed = %v, want %v; errors %q", got, tt.wantErr, f.errors)
			}
			for _, s := range append(append([]string(nil), f.errors...), f.logs...) {
				if strings.Contains(s, testPAN) || pan.Contains([]byte(s)) {
					t.Errorf("report shows the digits: %q", pan.Mask(s))
				}
			}
			if !tt.wantErr {
				if len(f.logs) != 0 {
					t.Errorf("log dumped although the test passed: %q", f.logs)
				}
				return
			}
			if len(f.errors) != 1 || !strings.Contains(f.errors[0], "log output holds 1 card-like digit run") ||
				!strings.Contains(f.errors[0], "(line 1)") {
				t.Errorf("errors = %q", f.errors)
			}
			if len(f.logs) != 1 || !strings.Contains(f.logs[0], "411111******1111") {
				t.Errorf("masked log dump missing: %q", f.logs)
			}
		})
	}
}

func TestAssertNoPAN(t *testing.T) {
	tests := []struct {
		in   string
		want string // expected error, "" for none
	}{
		{"", ""},
		{"no digits", ""},
		{"4111 1111 1111 1111", "body holds 1 card-like digit run(s) (13-19 digits passing the Luhn check; digits not shown): bytes 0-19 (line 1)"}, // in groups: found since issue 17
		{"4111 11** **** 1111", ""},
		{"41111111111111111111111", ""}, // longer than 19 digits
		{"4111111111111111", "body holds 1 card-like digit run(s) (13-19 digits passing the Luhn check; digits not shown): bytes 0-16 (line 1)"},
		{"a\nb 378282246310005\n5555555555554444", "body holds 2 card-like digit run(s) (13-19 digits passing the Luhn check; digits not shown): bytes 4-19 (line 2), bytes 20-36 (line 3)"},
		{strings.Repeat("4111111111111111 ", 12), "and 2 more"},
	}
	for _, tt := range tests {
		f := &fakeTB{}
		AssertNoPAN(f, "body", []byte(tt.in))
		switch {
		case tt.want == "" && len(f.errors) != 0:
			t.Errorf("AssertNoPAN(%q) failed: %q", pan.Mask(tt.in), f.errors)
		case tt.want != "" && (len(f.errors) != 1 || !strings.Contains(f.errors[0], tt.want)):
			t.Errorf("AssertNoPAN(%q) errors = %q, want %q", pan.Mask(tt.in), f.errors, tt.want)
		}
		for _, e := range f.errors {
			if pan.Contains([]byte(e)) {
				t.Errorf("error shows digits: %q", pan.Mask(e))
			}
		}
	}
}

func TestCapture(t *testing.T) {
	c := NewCapture(t)
	c.Logger.Info("one", "d", 1500*time.Microsecond)
	c.Logger.With("k", "v").Debug("two")
	if _, err := fmt.Fprintln(c, `{"msg":"one","extra":true}`); err != nil {
		t.Fatal(err)
	}

	lines := c.Lines()
	if len(lines) != 3 {
		t.Fatalf("lines = %v", lines)
	}
	if lines[0]["d"] != "1.5ms" {
		t.Errorf("duration = %#v, want the string 1.5ms", lines[0]["d"])
	}
	ts, _ := lines[0]["time"].(string)
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Errorf("time %q: %v", ts, err)
	}
	if lines[1]["level"] != "DEBUG" || lines[1]["k"] != "v" {
		t.Errorf("debug line = %v", lines[1])
	}
	if got := c.Messages("one"); len(got) != 2 {
		t.Errorf("Messages(one) = %v", got)
	}
	if !strings.Contains(c.String(), `"msg":"two"`) || string(c.Bytes()) != c.String() {
		t.Errorf("String/Bytes disagree: %q", c.String())
	}
}

func TestCaptureConcurrent(t *testing.T) {
	c := NewCapture(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				c.Logger.Info("m", "i", i, "j", j)
				_ = c.String()
			}
		}()
	}
	wg.Wait()
	if n := len(c.Lines()); n != 400 {
		t.Errorf("lines = %d, want 400", n)
	}
}

func TestCaptureNotJSON(t *testing.T) {
	f := &fakeTB{}
	c := NewCapture(f)
	_, _ = c.Write([]byte("plain text\n"))
	if got := c.Lines(); len(got) != 0 || len(f.errors) != 1 {
		t.Errorf("lines %v errors %q", got, f.errors)
	}
	f.finish()
	if len(f.logs) != 1 {
		t.Errorf("failed test should dump the log: %q", f.logs)
	}
}
