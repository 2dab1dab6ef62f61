package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestUncleanPathsThroughTheGatewayEchoNoCardNumber (regression cover,
// passed before): a path with an empty, "." or ".." element, a card
// number after it and in the query, is not redirected by the inbound
// listener's built-in mounts (http.ServeMux would echo the path and the
// query in Location and an HTML body): the gateway cleans it first, and
// its answer (the vault API's, another's) holds no card number.
func TestUncleanPathsThroughTheGatewayEchoNoCardNumber(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	g := startGateway(t, testEnv(nil), "--data-dir", data, "--enable-vault-api")
	addr := strings.TrimPrefix(g.inbound, "http://")
	for _, target := range []string{
		"/aliases//4111111111111111", "/aliases/./4111111111111111?q=4111111111111111",
		"/x/../4111111111111111?v=4111111111111111", "/aliases/a/..//4111111111111111",
	} {
		res, b, err := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		if res == nil {
			t.Fatal(err)
		}
		if res.StatusCode/100 == 3 || res.Header.Get("Location") != "" {
			t.Errorf("GET %s = %d: redirected", target, res.StatusCode)
		}
		obstest.AssertNoPAN(t, "answer", b)
		obstest.AssertNoPAN(t, "Location", []byte(res.Header.Get("Location")))
	}
	obstest.AssertNoPAN(t, "gateway log", []byte(g.stderr.String()))
}

// TestVaultAPIErrorHrefMasksTheHost: through the gateway, a vault API
// error's href names the request's Host as sent, and a card number whose
// digit groups '_' keeps apart there (Host: 4111_1111_1111_1111, a name
// the listener takes) came back in clear in the 401 any client gets. It
// is masked as a reader sees it, as the path is.
func TestVaultAPIErrorHrefMasksTheHost(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	g := startGateway(t, testEnv(nil), "--data-dir", data, "--enable-vault-api")
	addr := strings.TrimPrefix(g.inbound, "http://")
	for _, host := range []string{"4111_1111_1111_1111", "x.4111_1111_1111_1111.example"} {
		res, b, err := rawExchange(t, addr, "GET /aliases/abc HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		if res == nil {
			t.Fatal(err)
		}
		var doc struct{ Errors []struct{ Href string } }
		if err := json.Unmarshal(b, &doc); err != nil || len(doc.Errors) == 0 {
			t.Fatalf("Host %d bytes = %d, want an error document", len(host), res.StatusCode)
		}
		u, err := url.Parse(doc.Errors[0].Href)
		if err != nil {
			t.Fatal(err)
		}
		if pan.MaskReadable(pan.MaskAll(u.Host)) != u.Host {
			t.Errorf("status %d: the href's host holds a card number a reader sees (%d bytes)", res.StatusCode, len(u.Host))
		}
	}
}

// TestErrorPointersMaskWhatAReaderSees: through the gateway, the
// source.pointer of a duplicate_member error (the Card Management API's
// and the vault API's, internal/jsonapi's one walk) names the client's
// member name, and one holding a card number apart by '_' or tabs came
// back in clear (masked as internal/pan reads text only). It is masked
// as a reader of the decoded answer sees it (pan.MaskShown).
func TestErrorPointersMaskWhatAReaderSees(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,aliases:write")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	bearer := bearerToken(t, g, cred)
	for _, name := range []string{"4111_1111_1111_1111", `4111\t1111\t1111\t1111`} {
		dup := `"` + name + `":1,"` + name + `":2`
		for _, c := range []struct{ path, ctype, body string }{
			{"/cards", "application/vnd.api+json", `{"data":{"attributes":{"pan":"4242424242424242","exp_month":4,"exp_year":2030},` + dup + `}}`},
			{"/aliases", "application/json", `{"data":[{"value":"v","format":"UUID"}],` + dup + `}`},
		} {
			req, err := http.NewRequest("POST", g.inbound+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.ctype)
			bearer(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var doc struct {
				Errors []struct {
					Code   string
					Source struct{ Pointer string }
				}
			}
			if err := json.Unmarshal(b, &doc); err != nil || len(doc.Errors) == 0 || doc.Errors[0].Code != "duplicate_member" {
				t.Fatalf("POST %s = %d, want duplicate_member (%d bytes)", c.path, res.StatusCode, len(b))
			}
			if p := doc.Errors[0].Source.Pointer; p == "" || pan.MaskShown(p) != p {
				t.Errorf("POST %s: the pointer (%d bytes), decoded, holds a card number a reader sees", c.path, len(p))
			}
		}
	}
}

// TestCardsAPIEchoesNoCardNumberInNames: the Card Management API echoes
// an unknown attribute's or query parameter's name (source.pointer,
// source.parameter) when it looks safe (cards.safeName), and a card
// number whose digit groups '_' keeps apart passed as safe: POST /cards
// with an attribute "4111_1111_1111_1111" and GET
// /cards?4111_1111_1111_1111=1 echoed it in clear. Such a name is now
// left out (the object's pointer, no parameter), as the '-' and '.'
// spellings were.
func TestCardsAPIEchoesNoCardNumberInNames(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, cred)
	for _, name := range []string{"4111_1111_1111_1111", "x_4111_1111_1111_1111", "4111-1111-1111-1111"} {
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/cards?" + name + "=1", ""},
			{"POST", "/cards", `{"data":{"type":"cards","attributes":{"pan":"4242424242424242","exp_month":4,"exp_year":2030,"` + name + `":1}}}`},
		} {
			req, err := http.NewRequest(c.method, g.inbound+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/vnd.api+json")
			bearer(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var doc struct {
				Errors []struct {
					Detail string
					Source struct{ Pointer, Parameter string }
				}
			}
			if err := json.Unmarshal(b, &doc); err != nil || len(doc.Errors) == 0 {
				t.Fatalf("%s %s = %d, want an error document (%d bytes)", c.method, c.path, res.StatusCode, len(b))
			}
			for _, e := range doc.Errors {
				for what, s := range map[string]string{"pointer": e.Source.Pointer, "parameter": e.Source.Parameter, "detail": e.Detail} {
					if pan.MaskShown(s) != s {
						t.Errorf("%s %s: the error's %s (%d bytes) holds a card number a reader sees", c.method, c.path, what, len(s))
					}
				}
			}
		}
	}
}
