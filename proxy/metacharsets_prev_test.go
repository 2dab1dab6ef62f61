package proxy

import (
	"bytes"
	"slices"
	"testing"
)

// prevMetaCharsets is metaCharsets as hr8 wrote it (a copy of the first
// 1,024 bytes lowered, then a search for "charset"): the oracle of
// FuzzMetaCharsetsAgainstPrevious.
func prevMetaCharsets(body []byte) []string {
	var buf [1024]byte
	head := buf[:copy(buf[:], body)]
	for i, c := range head {
		if 'A' <= c && c <= 'Z' {
			head[i] = c + 'a' - 'A'
		}
	}
	var out []string
	for {
		i := bytes.Index(head, []byte("charset"))
		if i < 0 {
			return out
		}
		head = bytes.TrimLeft(head[i+len("charset"):], " \t\r\n\f")
		v, ok := bytes.CutPrefix(head, []byte("="))
		if !ok {
			continue
		}
		v = bytes.TrimLeft(v, " \t\r\n\f\"'")
		if end := bytes.IndexAny(v, "\"' \t\r\n\f;>/"); end >= 0 {
			v = v[:end]
		}
		if len(v) > 0 {
			out = append(out, string(v))
		}
	}
}

// FuzzMetaCharsetsAgainstPrevious: the '='-first reading of metaCharsets
// finds exactly the labels the copy-and-lower reading found.
func FuzzMetaCharsetsAgainstPrevious(f *testing.F) {
	for _, s := range []string{`<meta charset="Shift_JIS">`, "CHARSET=\t'x'", "charset charset=x", "charset=charset=x",
		`<meta http-equiv="Content-Type" content="text/html; ChArSeT = iso-8859-1">`, "a=b&charset=&c=d", "charset\f=\fKOI8-R;", "="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if got, want := metaCharsets(body), prevMetaCharsets(body); !slices.Equal(got, want) {
			t.Fatalf("%q: %q, previously %q", body, got, want)
		}
	})
}
