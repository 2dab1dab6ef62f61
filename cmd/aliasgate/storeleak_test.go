package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// TestNothingLeaksIntoPostgresOrRedis sends a known card number and CVC
// through every front door of a gateway on PostgreSQL and Redis (an inbound
// route, the vault API, the Card Management API, reveals) and then reads
// every row of every table of the database, every Redis value under the
// gateways' prefix and every file of the data dir: neither is there in
// clear, in any spelling a reader could turn back into it (digits, grouped,
// base64, the hex of its bytes as PostgreSQL prints a bytea), and every
// Redis key expires within vault.volatile_ttl.
func TestNothingLeaksIntoPostgresOrRedis(t *testing.T) {
	pgURL, redisURL := testPostgresURL(t), testRedisURL()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"ok":true}`))
	}))
	defer up.Close()
	cfg := sharedConfig(t, pgURL, redisURL, up.URL)
	env := []string{"ALIASGATE_MASTER_KEY=" + newMasterKey()}
	g := startChild(t, cfg, env...)
	var c credential
	out := cliRun(t, env, "clients", "create", "--config", cfg, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "aliases:write,aliases:reveal,cards:read,cards:write")
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("clients create printed %q", out)
	}
	tok := token(t, g.inbound, c)

	run := randomDigits(6)
	pans := []string{testPAN(run, 1), testPAN(run, 2), testPAN(run, 3)}
	const cvc = "947"
	if st, b := call(t, "POST", g.inbound+"/checkout", "application/json",
		`{"card":{"number":"`+pans[0]+`","cvc":"`+cvc+`"}}`, nil); st != 200 {
		t.Fatalf("inbound route: %d %s", st, b)
	}
	st, b := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"`+pans[1]+`","format":"FPE_SIX_T_FOUR","classifiers":["pan"]},{"value":"`+cvc+`","storage":"VOLATILE"}]}`, bearerAuth(tok))
	var made struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if st != 201 || json.Unmarshal(b, &made) != nil || len(made.Data) != 2 {
		t.Fatalf("vault API redact: %d %s", st, b)
	}
	for _, d := range made.Data {
		if st, b := call(t, "GET", g.inbound+"/aliases/"+d.Aliases[0].Alias, "", "", bearerAuth(tok)); st != 200 {
			t.Fatalf("reveal: %d %s", st, b)
		}
	}
	st, b = call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
		`{"data":{"type":"cards","attributes":{"pan":"`+pans[2]+`","cvc":"`+cvc+`","exp_month":12,"exp_year":2031,"meta":{"ref":"order-1"}}}}`, bearerAuth(tok))
	var card struct{ Data struct{ ID string } }
	if st != 201 || json.Unmarshal(b, &card) != nil {
		t.Fatalf("create card: %d %s", st, b)
	}
	if st, b := call(t, "PATCH", g.inbound+"/cards/"+card.Data.ID, "application/vnd.api+json",
		`{"data":{"type":"cards","id":"`+card.Data.ID+`","attributes":{"cvc":"`+cvc+`","exp_month":1,"exp_year":2032}}}`, bearerAuth(tok)); st != 200 {
		t.Fatalf("patch card: %d %s", st, b)
	}
	if st, b := call(t, "GET", g.inbound+"/cards/"+card.Data.ID+"?include=card_updates", "", "", bearerAuth(tok)); st != 200 {
		t.Fatalf("read card: %d %s", st, b)
	}

	ctx := context.Background()
	// Every row of every table, as PostgreSQL prints it (bytea in hex).
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		t.Fatalf("tables: %v %v", tables, err)
	}
	for _, tbl := range tables {
		rows, err := conn.Query(ctx, `SELECT t::text FROM `+tbl+` t`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		assertNoSpelling(t, "PostgreSQL table "+tbl, []byte(strings.Join(texts, "\n")), pans, cvc)
	}

	// Every Redis key and value under the gateways' prefix.
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opts)
	defer rc.Close()
	prefix := "test-" + path.Base(strings.SplitN(pgURL, "?", 2)[0]) + ":"
	var dump bytes.Buffer
	n := 0
	iter := rc.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		v, err := rc.Get(ctx, iter.Val()).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		// Every volatile value, and everything else the gateways keep
		// in Redis, goes by itself within vault.volatile_ttl (1 h).
		if ttl, err := rc.PTTL(ctx, iter.Val()).Result(); err != nil || ttl <= 0 || ttl > time.Hour {
			t.Errorf("redis key %s: TTL %v, %v; want one of at most an hour", iter.Val(), ttl, err)
		}
		dump.WriteString(iter.Val() + "\n")
		dump.Write(v)
		dump.WriteString("\n")
		n++
	}
	if err := iter.Err(); err != nil || n == 0 {
		t.Fatalf("redis keys under %s: %d, %v", prefix, n, err)
	}
	assertNoSpelling(t, "Redis", dump.Bytes(), pans, cvc)

	// Every file of the data dir (the audit log).
	dataDir := filepath.Join(filepath.Dir(cfg), "data")
	err = filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			assertNoSpelling(t, p, b, pans, cvc)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	assertNoSpelling(t, "the gateway's log", []byte(g.stderr.String()), pans, cvc)
}

// assertNoSpelling fails when b holds one of the card numbers or the CVC
// (cardDataIn).
func assertNoSpelling(t *testing.T, what string, b []byte, pans []string, cvc string) {
	t.Helper()
	for _, f := range cardDataIn(b, pans, cvc) {
		t.Errorf("%s holds %s", what, f)
	}
}

// cardDataIn says which of the card numbers b holds (digits, in groups of
// four with a space or a dash, base64 at any alignment, the hex of their
// bytes in either case) and whether it holds the CVC (as a number of its
// own, or the hex of its bytes).
func cardDataIn(b []byte, pans []string, cvc string) []string {
	var found []string
	lower := bytes.ToLower(b)
	for i, p := range pans {
		if bytes.Contains(lower, []byte(hex.EncodeToString([]byte(p)))) {
			found = append(found, fmt.Sprintf("the hex of card number %d's bytes", i+1))
		}
		spellings := []string{p, p[:4] + " " + p[4:8] + " " + p[8:12] + " " + p[12:], p[:4] + "-" + p[4:8] + "-" + p[8:12] + "-" + p[12:]}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			// After k bytes of something else: the characters made of
			// the number's bits only.
			for k := range 3 {
				s := enc.EncodeToString(append(make([]byte, k), p...))
				spellings = append(spellings, s[(8*k+5)/6:len(s)-3])
			}
		}
		for _, s := range spellings {
			if bytes.Contains(b, []byte(s)) {
				found = append(found, fmt.Sprintf("card number %d in clear (as %q)", i+1, s))
			}
		}
	}
	if cvcHexIn(lower, cvc) {
		found = append(found, "the hex of the CVC's bytes")
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(cvc))
		if j < 0 {
			break
		}
		j += i
		if !numberChar(b, j-1) && !numberChar(b, j+len(cvc)) {
			found = append(found, fmt.Sprintf("the CVC in clear: …%q…", b[max(0, j-20):min(len(b), j+len(cvc)+20)]))
			break
		}
		i = j + 1
	}
	return found
}

// cvcHexIn reports whether lower (b in lower case) holds the hex of the
// CVC's bytes as a number of its own: the bytes the hex on either side of
// it spells do not continue it (numberChar). A JSON document stored as a
// bytea is printed as the hex of its text, in which "947" inside an id,
// an alias or a time's fraction is the hex 393437 too (the test failed
// so, now and then, on a card update whose record held one).
func cvcHexIn(lower []byte, cvc string) bool {
	h := []byte(hex.EncodeToString([]byte(cvc)))
	for i := 0; ; {
		j := bytes.Index(lower[i:], h)
		if j < 0 {
			return false
		}
		j += i
		around := []byte{' ', ' '}
		if j >= 2 {
			if b, err := hex.DecodeString(string(lower[j-2 : j])); err == nil {
				around[0] = b[0]
			}
		}
		if k := j + len(h); k+2 <= len(lower) {
			if b, err := hex.DecodeString(string(lower[k : k+2])); err == nil {
				around[1] = b[0]
			}
		}
		if !numberChar(around, 0) && !numberChar(around, 1) {
			return true
		}
		i = j + 1
	}
}

// numberChar reports whether b[i] (false out of range) may continue a
// number, a word, a hex string or a time (so the CVC's digits there are part of
// something else).
func numberChar(b []byte, i int) bool {
	if i < 0 || i >= len(b) {
		return false
	}
	c := b[i]
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '-' || c == '+'
}

// TestCardDataInFindsEverySpelling checks the search of
// TestNothingLeaksIntoPostgresOrRedis.
func TestCardDataInFindsEverySpelling(t *testing.T) {
	p := testPAN("123456", 7)
	leaks := []string{p, hex.EncodeToString([]byte(p)), strings.ToUpper(hex.EncodeToString([]byte(p))),
		p[:4] + " " + p[4:8] + " " + p[8:12] + " " + p[12:], `{"cvc":"947"}`, `{"cvc":947}`, `\x393437`, `\x` + hex.EncodeToString([]byte(`{"cvc":"947"}`))}
	for k := range 3 {
		leaks = append(leaks, base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", k)+p+"y")))
	}
	for _, leak := range leaks {
		if len(cardDataIn([]byte("abc "+leak+" def"), []string{p}, "947")) == 0 {
			t.Errorf("%q not found", leak)
		}
	}
	holdsNone := `{"time":"2026-12-06T12:47:01.947Z","seq":19470,"id":"c947d","last4":"` + p[12:] + `"}`
	for _, s := range []string{holdsNone, `\x` + hex.EncodeToString([]byte(holdsNone))} {
		if f := cardDataIn([]byte(s), []string{p}, "947"); len(f) != 0 {
			t.Errorf("found %v in what holds none: %s", f, s)
		}
	}
}
