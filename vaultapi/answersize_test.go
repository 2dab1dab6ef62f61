package vaultapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vaultapi"
)

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestLargeAnswersAreNotBuiltWhole: a reveal of 20 aliases whose values
// are large (at the value limit, 1 MiB of '\', written "\\" in JSON: a 40
// MiB answer), asked for with a URL of 1.3 KB, or a create naming those 20
// aliases, built its whole answer in memory twice (encoding/json's buffer
// of the whole document, then a copy for Content-Length, each grown by
// doubling): besides what the vault call itself allocates, 228 MB for the
// reveal and 250 MB for the create at the limit, so that a few concurrent
// requests of a client with the reveal scope could exhaust a gateway's
// memory. The answer is written through a small buffer: the request
// allocates what its vault call does and less than the answer's size
// besides. (Values of 256 KiB here, to keep the test short.)
func TestLargeAnswersAreNotBuiltWhole(t *testing.T) {
	var svc *vault.Service
	e := setup(t, func(v vaultapi.Vault) vaultapi.Vault { svc = v.(*vault.Service); return v })
	const size = 256 << 10 // a quarter of the value limit: a 10 MiB answer
	var aliases, items []string
	var reqs []vault.RedactRequest
	for i := range 20 {
		v := strings.Repeat(`\\`, size-8) + fmt.Sprintf("%08d", i)
		recs := e.create(t, `{"data":[{"value":"`+v+`"}]}`)
		a := recs[0].Aliases[0].Alias
		aliases = append(aliases, a)
		items = append(items, `{"alias":"`+a+`","format":"RAW_UUID"}`)
		reqs = append(reqs, vault.RedactRequest{Alias: a, Format: vault.FormatRawUUID, Detail: true, Text: true})
	}
	ctx := vault.WithAccount(context.Background(), "acct")
	if _, err := svc.Redact(ctx, reqs); err != nil { // the RAW_UUID aliases exist from now on
		t.Fatal(err)
	}
	for _, rq := range []struct {
		name, method, path, body string
		status                   int
		call                     func() error // the request's vault call
	}{
		{"reveal many", "GET", "/aliases?q=" + strings.Join(aliases, ","), "", 200,
			func() error { _, err := svc.Describe(ctx, aliases); return err }},
		{"create from aliases", "POST", "/aliases", `{"data":[` + strings.Join(items, ",") + `]}`, 201,
			func() error { _, err := svc.Redact(ctx, reqs); return err }},
	} {
		var err error
		vaultCall := allocated(func() { err = rq.call() })
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		var status int
		request := allocated(func() {
			req, err := http.NewRequest(rq.method, e.srv.URL+rq.path, strings.NewReader(rq.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+e.both)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			n, err = io.Copy(io.Discard, res.Body) // read in small pieces: the client allocates little
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			status = res.StatusCode
		})
		if status != rq.status || n < 2*20*size {
			t.Fatalf("%s: %d, %d bytes", rq.name, status, n)
		}
		if request > vaultCall && request-vaultCall > uint64(n) {
			t.Errorf("%s: the request allocated %d MB besides its vault call's %d MB, for an answer of %d MB",
				rq.name, (request-vaultCall)>>20, vaultCall>>20, n>>20)
		}
	}
}

// TestRevealCopiesLargeValuesFewTimes: to list a value's other aliases a
// reveal hashes the value under every format it fits (UUID, RAW_UUID,
// GENERIC_T_FOUR, VGS_FIXED_LEN_GENERIC for text ending in 4 digits), and
// each hash copied the whole value into a buffer of its own first (the
// HMAC's input, a pooled buffer dropped when over 256 bytes): a reveal of
// 20 values of 256 KiB allocated 6 times the values, half of it clear
// copies made only to be hashed and wiped. The value is hashed in pieces
// through the pooled buffer: the reveal allocates the records it reads,
// the values decrypted and their copies in the answer, and little more.
func TestRevealCopiesLargeValuesFewTimes(t *testing.T) {
	e := setup(t, nil)
	const size = 256 << 10
	var aliases []string
	for i := range 20 {
		v := strings.Repeat("v", size-8) + fmt.Sprintf("%08d", i)
		aliases = append(aliases, e.create(t, `{"data":[{"value":"`+v+`"}]}`)[0].Aliases[0].Alias)
	}
	for _, path := range []string{"/aliases?q=" + strings.Join(aliases, ","), "/aliases/" + aliases[0]} {
		values := uint64(20 * size)
		if !strings.Contains(path, "?") {
			values = size
		}
		var n int64
		grown := allocated(func() {
			req, err := http.NewRequest("GET", e.srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+e.reveal)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			n, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		})
		if n < int64(values) {
			t.Fatalf("GET %.20s: %d bytes", path, n)
		}
		if grown > 4*values {
			t.Errorf("GET %.20s: %d KiB allocated for %d KiB of values", path, grown>>10, values>>10)
		}
	}
}
