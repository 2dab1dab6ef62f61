package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
)

// TestEchoedCryptogramIsMaskedLoggedOrRefusedByTheGuardMode: the
// cryptogram a network_token filter gave a request is card data in its
// response, in every spelling an echo gives it (as sent, JSON's "\/",
// percent-encoded), in the body, a header or a trailer: redact masks each
// whole, block refuses the response (502), log lets it pass with a line
// that does not hold it; off never looks.
func TestEchoedCryptogramIsMaskedLoggedOrRefusedByTheGuardMode(t *testing.T) {
	const c = "uoDdfwzl+r/l9Jl3BxbErg=="
	body := `{"a":"` + c + `","b":"` + strings.ReplaceAll(c, "/", `\/`) + `","c":"uoDdfwzl%2Br%2Fl9Jl3BxbErg%3D%3D","d":"ok"}`
	for _, mode := range []routes.LeakGuard{routes.LeakRedact, routes.LeakBlock, routes.LeakLog} {
		var logs bytes.Buffer
		p := newPipeline(nil, nil, 1<<20, slog.New(slog.NewJSONHandler(&logs, nil)), nil, nil)
		st := &reqState{route: &routes.Route{ID: "psp", LeakGuard: mode}, sent: []string{c}}
		msg := &message{header: http.Header{"X-Declined": {"cryptogram " + c}}, trailer: &http.Header{"X-T": {c}}}
		out, jerr := p.echoedSecrets(context.Background(), st, mode, msg, []byte(body))
		switch mode {
		case routes.LeakRedact:
			if jerr != nil || strings.Contains(string(out), "uoDdfwzl") || !strings.Contains(string(out), `"d":"ok"`) ||
				strings.Contains(msg.header.Get("X-Declined"), c) || strings.Contains((*msg.trailer).Get("X-T"), c) {
				t.Errorf("redact: %v %s %v %v", jerr, out, msg.header, *msg.trailer)
			}
		case routes.LeakBlock:
			if jerr == nil || jerr.Status != http.StatusBadGateway || jerr.Objects[0].Code != "card_data_leak" {
				t.Errorf("block: %v", jerr)
			}
		case routes.LeakLog:
			if jerr != nil || out != nil || msg.header.Get("X-Declined") != "cryptogram "+c {
				t.Errorf("log: %v %s %v", jerr, out, msg.header)
			}
		}
		if !strings.Contains(logs.String(), `"count":5`) || strings.Contains(logs.String(), "uoDdfwzl") {
			t.Errorf("%s: log %s", mode, logs.String())
		}
	}
}
