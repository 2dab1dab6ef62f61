package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/aliasgate/aliasgate/vault"
)

// TestCommandsThatReadAVaultNeverMakeOne: pointed at a data dir that holds
// no vault (a mistyped --data-dir), the commands that read or change a
// vault fail with one clear line and create nothing: no directory, no
// master key, no vault file.
func TestCommandsThatReadAVaultNeverMakeOne(t *testing.T) {
	for _, args := range [][]string{
		{"keys", "status"},
		{"keys", "rotate"},
		{"clients", "list"},
		{"clients", "revoke", "cli_nope"},
		{"clients", "rotate-secret", "cli_nope"},
		{"vault", "copy"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			typo := filepath.Join(dir, "aliasgate-dta")
			if args[0] == "vault" {
				from, to := filepath.Join(dir, "from.yaml"), filepath.Join(dir, "to.yaml")
				os.WriteFile(from, []byte("data_dir: "+typo+"\n"), 0o600)
				os.WriteFile(to, []byte("data_dir: "+filepath.Join(dir, "copy")+"\n"), 0o600)
				args = append(args, "--from-config", from, "--to-config", to)
			} else {
				args = append(args, "--data-dir", typo)
			}
			_, _, err := runCmd(t, testEnv(nil), args...)
			var buf bytes.Buffer
			if code := exitCode(err, &buf); code != 1 || !errors.Is(err, errNoVault) {
				t.Fatalf("exit %d: %v", code, err)
			}
			if !strings.Contains(buf.String(), typo) || strings.Count(buf.String(), "\n") != 1 {
				t.Errorf("message %q does not name the missing vault in one line", buf.String())
			}
			if _, err := os.Stat(typo); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the command created %s (%v)", typo, err)
			}
		})
	}
}

// TestContradictoryFlagsAreRefused: flags that cannot mean anything
// together are usage errors (exit 2), not silently ignored.
func TestContradictoryFlagsAreRefused(t *testing.T) {
	dir := t.TempDir()
	req := filepath.Join(dir, "req.http")
	os.WriteFile(req, []byte("POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n\r\n{}"), 0o600)
	resp := filepath.Join(dir, "resp.http")
	os.WriteFile(resp, []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}"), 0o600)
	rf := filepath.Join(dir, "routes.yaml")
	os.WriteFile(rf, []byte("routes: []\n"), 0o600)
	data := filepath.Join(dir, "data")
	for _, args := range [][]string{
		{"clients", "create", "--name", "psp", "--account", "a", "--outbound", "--pci", "--data-dir", data},
		{"clients", "create", "--name", "psp", "--account", "a", "--outbound", "--scopes", "aliases:reveal", "--data-dir", data},
		{"routes", "test", "--routes", rf, "--request", req, "--response", resp},
	} {
		_, _, err := runCmd(t, testEnv(nil), args...)
		var buf bytes.Buffer
		if code := exitCode(err, &buf); code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused clients create made a vault")
	}
}

// TestAuditVerifyAfterACommandIsClean: a vault whose last audit line was
// written by a command while no gateway ran (the README's clients create
// before serve) verifies without the cut-off note.
func TestAuditVerifyAfterACommandIsClean(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", "aliases:write")
	out, stderr, err := runCmd(t, env, "audit", "verify", "--data-dir", data)
	if err != nil || strings.Contains(stderr, "cut off") || !strings.Contains(out+stderr, "ok") {
		t.Fatalf("audit verify: %v\nstdout %q\nstderr %q", err, out, stderr)
	}
}

// TestDisabledAPIsSayHowToTurnThemOn: with the vault API off (the
// default), /aliases answers 404 naming --enable-vault-api; with cards off,
// /cards names cards.enabled.
func TestDisabledAPIsSayHowToTurnThemOn(t *testing.T) {
	g := startGateway(t, testEnv(map[string]string{"ALIASGATE_CARDS_ENABLED": "false"}), "--data-dir", filepath.Join(t.TempDir(), "data"))
	for path, want := range map[string]string{"/aliases": "--enable-vault-api", "/aliases/tok_x": "--enable-vault-api", "/cards": "cards.enabled", "/elsewhere": "no route matches"} {
		status, body := call(t, "GET", g.inbound+path, "", "", nil)
		if status != 404 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %s, want 404 naming %s", path, status, body, want)
		}
	}
}

// TestUsageLinesListEveryFlag: each command's "Usage:" line names every
// flag its --help lists (--help itself aside).
func TestUsageLinesListEveryFlag(t *testing.T) {
	flagLine := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
	for _, c := range commands() {
		out, _, err := runCmd(t, testEnv(nil), append(strings.Fields(c.name), "--help")...)
		if err != nil {
			t.Fatalf("%s --help: %v", c.name, err)
		}
		usage, _, _ := strings.Cut(out, "\n")
		for _, m := range flagLine.FindAllStringSubmatch(out, -1) {
			if !strings.Contains(usage, "--"+m[1]) {
				t.Errorf("%s: the usage line %q leaves out --%s", c.name, usage, m[1])
			}
		}
	}
}

// TestCommandsThatReadAVaultNeverMakeOneOnPostgres is
// TestCommandsThatReadAVaultNeverMakeOne for vault.store postgres: a
// vault.postgres_url naming an empty database (a mistyped database name),
// or one that holds the schema alone (`aliasgate migrate`), fails the
// commands that read or change a vault with one clear line, and they
// create nothing there: no table, no data key.
func TestCommandsThatReadAVaultNeverMakeOneOnPostgres(t *testing.T) {
	env := testEnv(map[string]string{vault.MasterKeyEnv: newMasterKey()})
	for _, migrated := range []bool{false, true} {
		for _, args := range [][]string{
			{"keys", "status"},
			{"keys", "rotate"},
			{"clients", "list"},
			{"clients", "revoke", "cli_nope"},
			{"clients", "rotate-secret", "cli_nope"},
			{"vault", "copy"},
			{"webhooks", "deliveries", "--account", "acct_1"},
		} {
			name := strings.Join(args[:2], " ")
			if migrated {
				name += " after migrate"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				pgURL := testPostgresURL(t)
				cfg := filepath.Join(dir, "pg.yaml")
				os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir: %s\nvault: {store: postgres, postgres_url: %q}\n", filepath.Join(dir, "data"), pgURL)), 0o600)
				if migrated {
					if _, _, err := runCmd(t, env, "migrate", "--config", cfg); err != nil {
						t.Fatal(err)
					}
				}
				tables := func() (n int, meta int) {
					conn, err := pgx.Connect(context.Background(), pgURL)
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close(context.Background())
					if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.tables
						WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if n > 0 {
						if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM meta`).Scan(&meta); err != nil {
							t.Fatal(err)
						}
					}
					return n, meta
				}
				before, _ := tables()
				if args[0] == "vault" {
					to := filepath.Join(dir, "to.yaml")
					os.WriteFile(to, []byte("data_dir: "+filepath.Join(dir, "copy")+"\n"), 0o600)
					args = append(args, "--from-config", cfg, "--to-config", to)
				} else {
					args = append(args, "--config", cfg)
				}
				_, _, err := runCmd(t, env, args...)
				var buf bytes.Buffer
				if code := exitCode(err, &buf); code != 1 || !errors.Is(err, errNoVault) {
					t.Fatalf("exit %d: %v", code, err)
				}
				if !strings.Contains(buf.String(), "postgres://") || strings.Count(buf.String(), "\n") != 1 {
					t.Errorf("message %q does not name the database in one line", buf.String())
				}
				if after, meta := tables(); after != before || meta != 0 {
					t.Fatalf("the command made %d tables (%d before) and %d settings", after, before, meta)
				}
			})
		}
	}
}
