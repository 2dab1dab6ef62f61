// Package pgtest gives tests an empty PostgreSQL database of their own on
// the server the README's test command makes sure is running
// (127.0.0.1:5432, user postgres, trust auth), or on the server of
// ALIASGATE_TEST_POSTGRES_URL. A server that cannot be reached fails the
// test, never skips it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServerEnv names another server: a postgres:// URL of a role that may
// create databases.
const ServerEnv = "ALIASGATE_TEST_POSTGRES_URL"

// defaultServer is the CI machine's PostgreSQL.
const defaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// opTimeout bounds making and dropping a test database: a bound on a hang,
// not a speed (DROP DATABASE waits for a checkpoint, which took over 10 s
// while the race-enabled suite and other PostgreSQL tests ran at once).
const opTimeout = time.Minute

// NewDatabase creates an empty database named after prefix and a random
// suffix, drops it (WITH (FORCE)) when the test ends, and returns its URL.
func NewDatabase(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv(ServerEnv)
	if base == "" {
		base = defaultServer
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable (%v): run ./scripts/test, which starts it, or set %s", err, ServerEnv)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	cfg := conn.Config()
	u := "postgres://" + cfg.User
	if cfg.Password != "" {
		u += ":" + cfg.Password
	}
	return u + "@" + net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + name + "?sslmode=disable"
}
