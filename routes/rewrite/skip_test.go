package rewrite

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSkippedContainersAgreeWithValid: a container no target is in is read
// by skipContainer, whose loop spells out the common cases (a string without
// escapes found eight bytes at a time, a plain integer); every string and
// number around those cases, at every length about a word and with every
// special byte at every place, is accepted exactly when encoding/json
// finds the body valid.
func TestSkippedContainersAgreeWithValid(t *testing.T) {
	var values []string
	for n := 0; n <= 18; n++ {
		plain := strings.Repeat("x", n)
		values = append(values, `"`+plain+`"`, `"`+plain, plain+`"`)
		for pos := 0; pos <= n; pos++ {
			for _, ins := range []string{`\"`, `\\`, `\n`, `\u0041`, `\u00`, `\x`, "\x00", "\x1f", "\t", "\u00e9", "\xff", `"`, `\`} {
				values = append(values, `"`+plain[:pos]+ins+plain[pos:]+`"`)
			}
		}
	}
	values = append(values, `0`, `1`, `-1`, `01`, `-01`, `1.`, `1.5`, `1.e5`, `1e`, `1e+`, `1e5`, `1E-5`, `123456789012`,
		`1x`, `-`, `--1`, `1.5.5`, `0.0e0`, `true`, `tru`, `null`, `{}`, `[]`, `{`, `[1,]`, `[1 2]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`)
	for _, v := range values {
		for _, body := range []string{
			`{"t":1,"o":{"k":` + v + `}}`,
			`{"t":1,"o":[` + v + `,` + v + `]}`,
			`{"t":1,"o":{` + v + `:1}}`,
			`{"t":1,"o":[{"a":` + v + `,"b":2}]}`,
			`{"t":1,"o":[ ` + v + ` ]}`,
		} {
			p, err := Compile(Redact, []TargetSpec{{Kind: KindJSON, Path: "t"}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.body.Locate(&Message{Body: []byte(body)})
			if valid := json.Valid([]byte(body)); valid != (err == nil) {
				t.Errorf("%q: json.Valid %v, Locate error %v", body, valid, err)
			}
		}
	}
}
