package vaultapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestJSONWriterWritesAsEncodingJSON: writeData's answers are the bytes
// jsonapi.WriteJSON wrote (encoding/json without HTML escaping), for
// strings of every ASCII byte, the characters encoding/json escapes
// (U+2028, U+2029, bytes that are not UTF-8), long runs across the
// buffer's chunks, and random text.
func TestJSONWriterWritesAsEncodingJSON(t *testing.T) {
	var cases []string
	for b := range 256 {
		cases = append(cases, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	cases = append(cases, "", "café", "\u2028\u2029", "<>&", "\xe2\x80", "日本\x00語",
		strings.Repeat(`\`, 3*answerChunk+7), strings.Repeat("é", answerChunk), strings.Repeat("a\u2029", answerChunk))
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune{'a', '"', '\\', '\n', 0, 0x1f, 0x7f, 'é', '\u2028', '\u2029', 0x1F600, '<', '&'}
	for range 200 {
		var b strings.Builder
		for range rnd.IntN(3 * answerChunk) {
			b.WriteRune(alphabet[rnd.IntN(len(alphabet))])
		}
		if rnd.IntN(4) == 0 {
			b.WriteByte(0xff)
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		recs := []record{{Value: s, Classifiers: []string{"a<b", "c&d"}, Aliases: []aliasJSON{{Alias: "tok_x", Format: "UUID"}},
			CreatedAt: time.Unix(0, 0).UTC().Format(time.RFC3339), Storage: "PERSISTENT"}}
		for _, keys := range [][]string{nil, {s}} {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if keys == nil {
				_ = enc.Encode(map[string]any{"data": recs})
			} else {
				_ = enc.Encode(map[string]any{"data": map[string]record{keys[0]: recs[0]}})
			}
			w := httptest.NewRecorder()
			writeData(w, 200, keys, recs)
			if got := w.Body.String(); got != want.String() {
				t.Fatalf("value of %d bytes (valid UTF-8 %v), keys %v: writeData and encoding/json differ", len(s), utf8.ValidString(s), keys != nil)
			}
			if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
				t.Fatalf("value of %d bytes, keys %v: Content-Length %q for %d bytes", len(s), keys != nil, cl, w.Body.Len())
			}
		}
	}
	// Several records, keyed: in key order, as a map.
	recs := []record{{Value: "2"}, {Value: "1"}, {Value: "3"}}
	for i := range recs {
		recs[i].Classifiers = []string{}
	}
	keys := []string{"b", "a", "c"}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]any{"data": map[string]record{"b": recs[0], "a": recs[1], "c": recs[2]}})
	w := httptest.NewRecorder()
	writeData(w, 200, keys, recs)
	if w.Body.String() != want.String() {
		t.Fatalf("keyed records: %s, want %s", w.Body, &want)
	}
}

// FuzzJSONWriterAgainstEncodingJSON: writeData writes, for any value, key
// and other members, with their number as Content-Length, the bytes
// encoding/json (without HTML escaping) writes
// for the document jsonapi.WriteJSON encoded before answers were streamed:
// a list of records, or a map of them keyed by alias. The value is
// repeated to cross the buffer's chunk boundaries at any offset.
func FuzzJSONWriterAgainstEncodingJSON(f *testing.F) {
	f.Add("café", "tok_x", "pci", "tok_y", uint16(0), false)
	f.Add("\u2028<>&\x00\x1f\x7f\"\\", "\xff", "a\u2029", "", uint16(1), true)
	f.Add("\xe2\x80", "\xe2\x80\xa8", "\xed\xa0\x80", "\xf4\x90\x80\x80", uint16(4000), true)
	f.Add("é", "k", "", "UUID", uint16(answerChunk/2+1), true)
	f.Fuzz(func(t *testing.T, value, key, classifier, alias string, repeat uint16, keyed bool) {
		v := strings.Repeat(value, 1+int(repeat)%(3*answerChunk/max(1, len(value))+1))
		recs := []record{
			{Value: v, Classifiers: []string{classifier}, Aliases: []aliasJSON{{Alias: alias, Format: "UUID"}}, CreatedAt: key, Storage: "PERSISTENT"},
			{Value: value, Classifiers: []string{}, Storage: classifier},
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		var keys []string
		if keyed {
			keys = []string{key, key + "\x00" + alias}
			if err := enc.Encode(map[string]any{"data": map[string]record{keys[0]: recs[0], keys[1]: recs[1]}}); err != nil {
				t.Fatal(err)
			}
		} else if err := enc.Encode(map[string]any{"data": recs}); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		writeData(w, 200, keys, recs)
		if got := w.Body.Bytes(); !bytes.Equal(got, want.Bytes()) {
			i := 0
			for i < len(got) && i < len(want.Bytes()) && got[i] == want.Bytes()[i] {
				i++
			}
			t.Fatalf("writeData and encoding/json differ at byte %d of %d/%d (keyed %v)", i, len(got), want.Len(), keyed)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatal("writeData wrote invalid JSON")
		}
		if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
			t.Fatalf("Content-Length %q for %d bytes", cl, w.Body.Len())
		}
	})
}
