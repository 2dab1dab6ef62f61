package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/pgstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// defaultServer is the server the tests use unless
// ALIASGATE_TEST_POSTGRES_URL names another (a postgres:// URL of a role
// that may CREATE DATABASE).
const defaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	serverURL string        // the server, its maintenance database
	testDBURL string        // the database this run created
	testDB    *pgxpool.Pool // admin connections to it
	schemaSeq atomic.Int64
)

// TestMain creates one database with a random name for the run (each store
// of a test gets its own schema in it) and drops it at the end. Without a
// server every test fails: the CI script starts one.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	serverURL = os.Getenv("ALIASGATE_TEST_POSTGRES_URL")
	if serverURL == "" {
		serverURL = defaultServer
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		fmt.Fprintf(os.Stderr, `FAIL: the pgstore tests need a PostgreSQL server at %s (trust auth, a role that may CREATE DATABASE): %v
Run ./scripts/test, which starts one, or start one yourself, e.g.:
    pg_ctlcluster 15 main start                     (Debian/Ubuntu package)
    pg_ctl -D /path/to/data -l /tmp/pg.log start    (a cluster made with initdb --auth=trust -U postgres)
    docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16
or set ALIASGATE_TEST_POSTGRES_URL=postgres://user@host:port/postgres to use another server.
`, redacted(serverURL), err)
		return 1
	}
	name := "aliasgate_test_" + randHex(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: create test database %s: %v\n", name, err)
		admin.Close(ctx)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "drop test database %s: %v\n", name, err)
		}
		admin.Close(ctx)
	}()
	testDBURL = withParams(serverURL, name, nil)
	testDB, err = pgxpool.New(ctx, testDBURL)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: connect to test database %s: %v\n", name, err)
		return 1
	}
	defer testDB.Close()
	return m.Run()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func redacted(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(url not shown)"
	}
	return u.Redacted()
}

// withParams returns base pointed at database db (unless "") with the
// query parameters set.
func withParams(base, db string, params map[string]string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(fmt.Sprintf("ALIASGATE_TEST_POSTGRES_URL must be a postgres:// URL: %v", err))
	}
	if db != "" {
		u.Path = "/" + db
	}
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// newSchema creates an empty schema in the test database and returns the
// URL of a store that lives in it (search_path), with extra parameters.
func newSchema(t testing.TB, params ...string) string {
	t.Helper()
	name := fmt.Sprintf("s%d_%s", schemaSeq.Add(1), randHex(3))
	if _, err := testDB.Exec(context.Background(), "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	p := map[string]string{"search_path": name}
	for i := 0; i+1 < len(params); i += 2 {
		p[params[i]] = params[i+1]
	}
	return withParams(testDBURL, "", p)
}

// storeURLs remembers the URL of every store the harness opened, for
// Reopen.
var storeURLs sync.Map // *pgstore.Store → string

func openStore(t testing.TB, u string, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := pgstore.Open(ctx, u, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	storeURLs.Store(s, u)
	return s
}

func harness() vaulttest.Harness {
	return vaulttest.Harness{
		Open: func(t *testing.T, now func() time.Time) vault.Store {
			return openStore(t, newSchema(t), pgstore.Options{Now: now})
		},
		Reopen: func(t *testing.T, store vault.Store, now func() time.Time) vault.Store {
			u, ok := storeURLs.Load(store)
			if !ok {
				t.Fatalf("Reopen of a store the harness did not open")
			}
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			return openStore(t, u.(string), pgstore.Options{Now: now})
		},
	}
}

func TestConformance(t *testing.T) {
	vaulttest.Run(t, harness())
}
