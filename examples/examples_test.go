// Package examples runs the example scripts as a user would: each one end
// to end, and each with one of its ports already taken.
package examples

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

var scripts = map[string][]int{
	"sidecar/run.sh":      {18000, 18080, 18081, 19090},
	"outbound-psp/run.sh": {18443, 18080, 18081, 19090},
}

func runScript(t *testing.T, script string, timeout time.Duration, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %s (it must never hang):\n%s", script, timeout, out)
	}
	return string(out), err
}

// TestExamplesRun: both examples succeed on a machine where their ports
// are free, and show what they promise.
func TestExamplesRun(t *testing.T) {
	for script, want := range map[string]string{
		"sidecar/run.sh":      "OK: the app saw aliases only",
		"outbound-psp/run.sh": `psp received POST /v1/charges {"amount":1000,"card":{"number":"4111111111111111"}}`,
	} {
		t.Run(script, func(t *testing.T) {
			out, err := runScript(t, script, 3*time.Minute)
			if err != nil || !strings.Contains(out, want) {
				t.Fatalf("%s: %v\n%s", script, err, out)
			}
		})
	}
}

// TestExamplesWithAPortTaken: with any one of its ports taken, an example
// stops at once with one message naming that port, instead of hanging or
// failing with a bare curl error.
func TestExamplesWithAPortTaken(t *testing.T) {
	for script, ports := range scripts {
		for _, port := range ports {
			t.Run(script+"/"+strconv.Itoa(port), func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
				if err != nil {
					t.Fatalf("the test needs port %d free to take it: %v", port, err)
				}
				defer ln.Close()
				start := time.Now()
				out, err := runScript(t, script, 30*time.Second)
				if err == nil || !strings.Contains(out, "port "+strconv.Itoa(port)+" ") || !strings.Contains(out, "already in use") {
					t.Fatalf("%s with port %d taken: %v\n%s", script, port, err, out)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("took %s to say the port is taken", d)
				}
			})
		}
	}
}

// TestExamplesIgnoreTheCallersGatewaySettings: an example runs its own
// gateway on its own ports and data dir, also in a shell that exported
// ALIASGATE_* settings for another gateway (the README's walk-throughs
// tell a reader whose default ports are taken to export
// ALIASGATE_LISTEN_*). The environment won over the example's file: its
// gateway listened on the caller's ports and the script waited 15 s for
// it, then failed.
func TestExamplesIgnoreTheCallersGatewaySettings(t *testing.T) {
	var env []string
	for _, name := range []string{"ALIASGATE_LISTEN_INBOUND", "ALIASGATE_LISTEN_OUTBOUND", "ALIASGATE_LISTEN_ADMIN"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, name+"="+ln.Addr().String())
		ln.Close()
	}
	env = append(env, "ALIASGATE_ENV=live", "ALIASGATE_ROUTES_FILE=/nonexistent/routes.yaml")
	for script, want := range map[string]string{
		"sidecar/run.sh":      "OK: the app saw aliases only",
		"outbound-psp/run.sh": `psp received POST /v1/charges {"amount":1000,"card":{"number":"4111111111111111"}}`,
	} {
		t.Run(script, func(t *testing.T) {
			out, err := runScript(t, script, 3*time.Minute, env...)
			if err != nil || !strings.Contains(out, want) {
				t.Fatalf("%s with the caller's ALIASGATE_* settings: %v\n%s", script, err, out)
			}
		})
	}
}
