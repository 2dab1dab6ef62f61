package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// roleEnv names the role a re-executed harness binary plays (see roles.go).
const roleEnv = "AGBENCH_ROLE"

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat (100
// on every Linux architecture Go supports).
const clockTicks = 100

// proc is a child process whose CPU and memory the harness measures.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // stderr file ("" when stderr is discarded)
	done chan error
	// tuning is what a baseline printed about its GC policy and buffers.
	tuning string
	// pprof is the address of a baseline's profiles ("" unless started
	// with -pprof).
	pprof string
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends the process (SIGTERM, then SIGKILL after a grace period).
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // a second stop returns at once
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

// kill ends the process at once (SIGKILL) and waits for it.
func (p *proc) kill() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	err := <-p.done
	p.done <- err
}

// cpuSeconds returns the user + system CPU time the process has used.
func (p *proc) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime + stime (fields 14 and 15) of a /proc/<pid>/stat
// line, in seconds. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its closing parenthesis.
func parseStatCPU(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return float64(ut+st) / clockTicks, nil
}

// resetPeakRSS resets the process's peak resident set size (VmHWM), so the
// next peakRSS covers one run only. Best effort: old kernels lack it.
func (p *proc) resetPeakRSS() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.pid()), []byte("5"), 0)
}

// peakRSS returns VmHWM, the peak resident set size, in bytes.
func (p *proc) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, err
	}
	return parseStatusKB(b, "VmHWM:")
}

// parseStatusKB returns a "<key> N kB" line of /proc/<pid>/status in bytes.
func parseStatusKB(b []byte, key string) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return n << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", key)
}

// startRole re-executes the harness binary in a role (an upstream or a
// baseline proxy) and returns it with the address it printed.
func startRole(ctx context.Context, role string, args ...string) (*proc, string, error) {
	return startRoleEnv(ctx, role, nil, args...)
}

// startRoleEnv is startRole with env added to the child's environment.
func startRoleEnv(ctx context.Context, role string, env []string, args ...string) (*proc, string, error) {
	return startRoleWrapped(ctx, role, env, nil, args...)
}

// startRoleWrapped is startRoleEnv with the role run by the command wrap
// (its program and arguments, e.g. valgrind's), nil for none.
func startRoleWrapped(ctx context.Context, role string, env, wrap []string, args ...string) (*proc, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := wrapped(wrap, self, args...)
	cmd.Env = append(append(cleanEnv(), env...), roleEnv+"="+role)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", role, err)
	}
	p := &proc{name: role, cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if t, ok := strings.CutPrefix(sc.Text(), tuningPrefix); ok {
				p.tuning = t // written before addr is sent, read after it is received
			}
			if a, ok := strings.CutPrefix(sc.Text(), pprofPrefix); ok {
				p.pprof = a // likewise
			}
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		return p, a, nil
	case err := <-p.done:
		p.done <- err
		return nil, "", fmt.Errorf("%s exited before listening: %v", role, err)
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, "", fmt.Errorf("%s did not listen within 30s", role)
	case <-ctx.Done():
		p.stop()
		return nil, "", ctx.Err()
	}
}

// wrapped is the command that runs bin with args, through wrap when it is
// not empty.
func wrapped(wrap []string, bin string, args ...string) *exec.Cmd {
	if len(wrap) == 0 {
		return exec.Command(bin, args...)
	}
	return exec.Command(wrap[0], append(append(wrap[1:len(wrap):len(wrap)], bin), args...)...)
}

// cleanEnv is the environment of child processes: the harness's, without
// ALIASGATE_* variables (they would override the gateway's configuration),
// except the master key.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ALIASGATE_") && !strings.HasPrefix(kv, "ALIASGATE_MASTER_KEY=") {
			continue
		}
		if strings.HasPrefix(kv, roleEnv+"=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// moduleRoot returns the directory of the aliasgate go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the aliasgate module (run from the repository)")
	}
	return filepath.Dir(mod), nil
}

// pprofOverlay is added to cmd/aliasgate through a build overlay (the
// source tree is not touched) when the harness profiles: it serves
// net/http/pprof on a loopback port written to $AGBENCH_PPROF_FILE.
const pprofOverlay = `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	f := os.Getenv("AGBENCH_PPROF_FILE")
	if f == "" {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	_ = os.WriteFile(f, []byte(ln.Addr().String()), 0o600)
	go http.Serve(ln, nil)
}
`

// buildGateway builds cmd/aliasgate into dir and returns the binary's path.
// With pprof, the binary also serves /debug/pprof (see pprofOverlay).
func buildGateway(ctx context.Context, dir string, pprof bool) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "aliasgate")
	args := []string{"build", "-o", bin}
	if pprof {
		bin += "-pprof"
		src := filepath.Join(dir, "zz_benchpprof.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o600); err != nil {
			return "", err
		}
		ov := filepath.Join(dir, "overlay.json")
		js := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(root, "cmd", "aliasgate", "zz_benchpprof.go"), src)
		if err := os.WriteFile(ov, []byte(js), 0o600); err != nil {
			return "", err
		}
		args = []string{"build", "-overlay", ov, "-o", bin}
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/aliasgate")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/aliasgate: %v\n%s", err, out)
	}
	return bin, nil
}

// gatewayProc is a running aliasgate child.
type gatewayProc struct {
	*proc
	inbound, outbound, admin string
	pprof                    string // address of /debug/pprof, "" when not served
}

var listenRE = regexp.MustCompile(`"msg":"listening","listener":"(\w+)","addr":"([^"]+)"`)

// startGateway runs "aliasgate serve --config cfg" and waits for its three
// listening lines. Its log goes to logPath (appended, so it can be
// truncated between runs).
func startGateway(ctx context.Context, bin, cfg, logPath string, env []string, pprofFile string) (*gatewayProc, error) {
	return startGatewayWrapped(ctx, bin, cfg, logPath, env, pprofFile, nil)
}

// startGatewayWrapped is startGateway with the gateway run by the command
// wrap (see startRoleWrapped).
func startGatewayWrapped(ctx context.Context, bin, cfg, logPath string, env []string, pprofFile string, wrap []string) (*gatewayProc, error) {
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := wrapped(wrap, bin, "serve", "--config", cfg)
	cmd.Env = append(cleanEnv(), env...)
	if pprofFile != "" {
		cmd.Env = append(cmd.Env, "AGBENCH_PPROF_FILE="+pprofFile)
	}
	cmd.Stdout = lf
	cmd.Stderr = lf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start aliasgate: %w", err)
	}
	g := &gatewayProc{proc: &proc{name: "aliasgate", cmd: cmd, log: logPath, done: make(chan error, 1)}}
	go func() { g.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		for _, m := range listenRE.FindAllStringSubmatch(string(b), -1) {
			switch m[1] {
			case "inbound":
				g.inbound = m[2]
			case "outbound":
				g.outbound = m[2]
			case "admin":
				g.admin = m[2]
			}
		}
		if g.inbound != "" && g.outbound != "" && g.admin != "" {
			break
		}
		select {
		case err := <-g.done:
			g.done <- err
			b, _ = os.ReadFile(logPath)
			return nil, fmt.Errorf("aliasgate exited before listening (%v): %s", err, lastLines(b, 5))
		case <-ctx.Done():
			g.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.stop()
			return nil, fmt.Errorf("aliasgate did not listen within 60s: %s", lastLines(b, 5))
		}
	}
	if pprofFile != "" {
		for range 100 {
			if b, err := os.ReadFile(pprofFile); err == nil && len(b) > 0 {
				g.pprof = string(b)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return g, nil
}

// logProblems returns the gateway log's WARN and ERROR lines written since
// the last call (at most max of them) and how many there were, then
// empties the log. The gateway's log lines never hold card data.
func (g *gatewayProc) logProblems(max int) ([]string, int) {
	f, err := os.Open(g.log)
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	defer os.Truncate(g.log, 0)
	var lines []string
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			n++
			if len(lines) < max {
				lines = append(lines, l)
			}
		}
	}
	return lines, n
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
