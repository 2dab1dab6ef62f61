package obs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
)

const (
	testPAN    = "4111111111111111"
	testMasked = "411111******1111"
)

// escapeJoinedInput returns a string with no card-like run whose JSON
// encoding has one: the escape \u0000 puts four zeros in front of the
// digits that follow.
func escapeJoinedInput(t testing.TB) string {
	payload := "000041111111"
	d := string(pan.CheckDigit([]byte(payload)))
	in := "\x00" + payload[4:] + d
	if pan.Contains([]byte(in)) || !pan.Valid(payload+d) {
		t.Fatalf("bad fixture %q", in)
	}
	return in
}

type panStruct struct{ Number string }

func TestNewLoggerScrubs(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want string // must appear in the output (masked form), besides the absence of the PAN
	}{
		{"message", func(l *slog.Logger) { l.Info("charging card " + testPAN + " now") }, "charging card " + testMasked + " now"},
		{"string attr", func(l *slog.Logger) { l.Info("req", slog.String("note", `{"pan":"`+testPAN+`"}`)) }, testMasked},
		{"sensitive key", func(l *slog.Logger) { l.Info("req", slog.String("body", `{"pan":"`+testPAN+`"}`)) }, "[redacted]"},
		{"key", func(l *slog.Logger) { l.Info("req", slog.String("card_"+testPAN, "x")) }, "card_" + testMasked},
		{"group attr", func(l *slog.Logger) {
			l.Info("req", slog.Group("http", slog.Group("req", slog.String("path", "/c/"+testPAN))))
		}, "/c/" + testMasked},
		{"WithGroup and With", func(l *slog.Logger) {
			l.WithGroup("upstream").With("body", testPAN).Info("resp", "q", "pan="+testPAN)
		}, "pan=" + testMasked},
		{"error attr", func(l *slog.Logger) {
			l.Error("failed", slog.Any("err", fmt.Errorf("decode: %w", errors.New("bad value "+testPAN))))
		}, "bad value " + testMasked},
		{"error via key-value", func(l *slog.Logger) { l.Warn("failed", "err", errors.New(testPAN)) }, testMasked},
		{"int attr", func(l *slog.Logger) { l.Info("n", slog.Int64("n", 4111111111111111)) }, testMasked},
		{"uint attr", func(l *slog.Logger) { l.Info("n", slog.Uint64("n", 4111111111111111)) }, testMasked},
		{"struct attr", func(l *slog.Logger) { l.Info("s", slog.Any("s", panStruct{testPAN})) }, testMasked},
		{"escape-joined run", func(l *slog.Logger) { l.Info("x", "v", escapeJoinedInput(t)) }, ""},
		{"fmt-formatted Sensitive", func(l *slog.Logger) {
			l.Info(fmt.Sprintf("got %v", obs.Sensitive(testPAN)), "v", fmt.Sprintf("%s|%q", obs.Sensitive(testPAN), obs.Sensitive(testPAN)))
		}, "[redacted len=16]"},
		{"Sensitive attr", func(l *slog.Logger) { l.Info("x", "v", obs.Sensitive(testPAN)) }, "[redacted len=16]"},
		{"duration as string", func(l *slog.Logger) { l.Info("x", "d", 4111111111111111*time.Nanosecond) }, (4111111111111111 * time.Nanosecond).String()},
	}
	for _, format := range []string{"json", "text"} {
		for _, tt := range tests {
			t.Run(format+"/"+tt.name, func(t *testing.T) {
				c := obstest.NewCapture(t) // the capture's own cleanup check is the second assertion
				l, err := obs.NewLogger(c, "debug", format)
				if err != nil {
					t.Fatal(err)
				}
				tt.log(l)
				out := c.String()
				if out == "" {
					t.Fatal("nothing logged")
				}
				if strings.Contains(out, testPAN) || pan.Contains([]byte(out)) {
					t.Errorf("output holds a card-like run: %s", pan.Mask(out))
				}
				if tt.want != "" && !strings.Contains(out, tt.want) {
					t.Errorf("output lacks %q:\n%s", tt.want, out)
				}
				if format == "json" {
					var m map[string]any
					if err := json.Unmarshal([]byte(out), &m); err != nil {
						t.Errorf("output is not one JSON object: %v\n%s", err, out)
					}
				}
			})
		}
	}
}

func TestNewLoggerOptions(t *testing.T) {
	tests := []struct {
		level, format string
		wantErr       bool
		debugShown    bool
		infoShown     bool
		prefix        string
	}{
		{"debug", "json", false, true, true, `{"time":"`},
		{"info", "json", false, false, true, `{"time":"`},
		{"", "", false, false, true, `{"time":"`},
		{"WARN", "text", false, false, false, ""},
		{"error", "text", false, false, false, ""},
		{"info", "text", false, false, true, `time=`},
		{"verbose", "json", true, false, false, ""},
		{"info", "xml", true, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := obs.NewLogger(&buf, tt.level, tt.format)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			l.Debug("dbg")
			if got := strings.Contains(buf.String(), "dbg"); got != tt.debugShown {
				t.Errorf("debug shown = %v, want %v", got, tt.debugShown)
			}
			buf.Reset()
			l.Info("inf")
			if got := strings.Contains(buf.String(), "inf"); got != tt.infoShown {
				t.Errorf("info shown = %v, want %v", got, tt.infoShown)
			}
			if tt.infoShown && !strings.HasPrefix(buf.String(), tt.prefix) {
				t.Errorf("line %q does not start with %q", buf.String(), tt.prefix)
			}
		})
	}
}

func TestNewLoggerTimeIsRFC3339(t *testing.T) {
	var buf bytes.Buffer
	l, err := obs.NewLogger(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("x")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	ts, _ := m["time"].(string)
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Errorf("time %q is not RFC 3339: %v", ts, err)
	}
}

func TestSensitive(t *testing.T) {
	s := obs.Sensitive(testPAN)
	const red = "[redacted len=16]"
	tests := []struct {
		name, got, want string
	}{
		{"%s", fmt.Sprintf("%s", s), red},
		{"%v", fmt.Sprintf("%v", s), red},
		{"%+v", fmt.Sprintf("%+v", s), red},
		{"%#v", fmt.Sprintf("%#v", s), red},
		{"%q", fmt.Sprintf("%q", s), `"` + red + `"`},
		{"%x", fmt.Sprintf("%x", s), red},
		{"%d", fmt.Sprintf("%d", s), red},
		{"%20s", fmt.Sprintf("%20s", s), red},
		{"Sprint", fmt.Sprint(s), red},
		{"Sprintln", fmt.Sprintln(s), red + "\n"},
		{"String", s.String(), red},
		{"GoString", s.GoString(), red},
		{"struct %+v", fmt.Sprintf("%+v", struct{ V obs.Sensitive }{s}), "{V:" + red + "}"},
		{"struct %#v", fmt.Sprintf("%#v", struct{ V obs.Sensitive }{s}), "struct { V obs.Sensitive }{V:" + red + "}"},
		{"pointer %v", fmt.Sprintf("%v", &s), red},
		{"error wrap", fmt.Errorf("bad %v", s).Error(), "bad " + red},
		{"empty", obs.Sensitive("").String(), "[redacted len=0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		b, err := json.Marshal(struct {
			V obs.Sensitive `json:"v"`
		}{s})
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != `{"v":"`+red+`"}` {
			t.Errorf("json = %s", b)
		}
		var back struct{ V obs.Sensitive }
		if err := json.Unmarshal([]byte(`{"V":"`+testPAN+`"}`), &back); err != nil || string(back.V) != testPAN {
			t.Errorf("unmarshal = %q, %v; want the value", string(back.V), err)
		}
	})

	t.Run("slog raw handler", func(t *testing.T) {
		// A handler with no scrubbing at all: LogValue alone must hide the value.
		c := obstest.NewCapture(t)
		c.Logger.Info("reveal", "value", s, slog.Group("g", "v", s), slog.Any("any", s))
		c.Logger.Info("nested", "item", struct{ V obs.Sensitive }{s})
		out := c.String()
		if strings.Contains(out, testPAN) || strings.Count(out, red) != 4 {
			t.Errorf("log = %s", pan.Mask(out))
		}
	})
}

func FuzzScrub(f *testing.F) {
	f.Add(testPAN, "body")
	f.Add("card 4111 1111 1111 1111 and 5555555555554444.", "k")
	f.Add("\x0041111111", "\x00")
	f.Add("\u2028378282246310005", "v\u2028")
	f.Add(`{"pan":"6011111111111117","cvc":"123"}`, "4111111111111111")
	f.Add("0000000000000", "")
	f.Fuzz(func(t *testing.T, s, key string) {
		for _, format := range []string{"json", "text"} {
			var buf bytes.Buffer
			l, err := obs.NewLogger(&buf, "debug", format)
			if err != nil {
				t.Fatal(err)
			}
			l.WithGroup(s).With(key, s).Info(s,
				slog.String(key, s),
				slog.Group("g", slog.String(s, s)),
				slog.Any("err", errors.New(s)),
				slog.Any("raw", []string{s, key}),
				slog.Any("bytes", []byte(s)),
			)
			if c := pan.Find(buf.Bytes()); len(c) > 0 {
				t.Fatalf("%s output holds card-like runs at %v", format, c)
			}
		}
	})
}
