package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
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
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		c.Close()
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
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /aliases/abc HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		c.Close()
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
