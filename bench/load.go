package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// endpoint is where the load generator sends its requests.
type endpoint struct {
	// addr is the host:port dialled (the proxy under test).
	addr string
	// connect, when set, is the host:port of a CONNECT sent first; the
	// requests then go through a TLS session inside the tunnel.
	connect string
	// tls configures the session inside the tunnel.
	tls *tls.Config
	// host is the Host header of every request.
	host string
	// path is the request target (origin form).
	path string
}

// bodyFunc writes the body of request seq (counted from 0 across the whole
// run) into dst[:0] and returns it. It is called from several goroutines.
type bodyFunc func(seq uint64, dst []byte) []byte

// loadSpec is one measured run.
type loadSpec struct {
	conns    int
	duration time.Duration
	// rate, when > 0, makes the run open-loop: request i is due at
	// start + i/rate and its latency counts from that due time, so a
	// stalled proxy is charged for the requests it kept waiting
	// (no coordinated omission). 0: closed loop, each connection sends its
	// next request as soon as the previous answer is read.
	rate float64
	// count, when > 0, ends a closed-loop run after that many requests
	// instead of after duration.
	count int
	body  bodyFunc
}

// loadResult is what a run measured.
type loadResult struct {
	requests int
	errors   int
	firstErr string
	elapsed  time.Duration
	lat      []time.Duration // every latency, sorted
}

// reqPerSec is the completed requests per second.
func (r loadResult) reqPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted samples by
// the nearest-rank method: the smallest sample with at least p % of the
// samples at or below it. Zero when there are none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(n) - 1e-9)) // 99.9 % of 1000 is 999, whatever the float rounding
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// conn is one keep-alive client connection of the generator.
type conn struct {
	ep  *endpoint
	c   net.Conn
	br  *bufio.Reader
	buf []byte // request bytes
}

// dial opens the connection (and the tunnel and TLS session when ep says
// so) before any measured request.
func dial(ctx context.Context, ep *endpoint) (*conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", ep.addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if ep.connect != "" {
		if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", ep.connect, ep.connect); err != nil {
			c.Close()
			return nil, err
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("CONNECT: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			c.Close()
			return nil, fmt.Errorf("CONNECT: status %d", resp.StatusCode)
		}
		if br.Buffered() > 0 {
			c.Close()
			return nil, errors.New("CONNECT: data after the 200")
		}
		tc := tls.Client(c, ep.tls)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS inside the tunnel: %w", err)
		}
		c = tc
	}
	return &conn{ep: ep, c: c, br: bufio.NewReaderSize(c, 16<<10), buf: make([]byte, 0, 4096)}, nil
}

// answer is a response read in full (set-up checks).
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one POST with body and reads the whole answer. It returns the
// status, the response when keep is set, and whether the connection can
// carry another request.
func (c *conn) do(body []byte, keep bool) (int, *answer, bool, error) {
	b := c.buf[:0]
	b = append(b, "POST "...)
	b = append(b, c.ep.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.ep.host...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.buf = b
	if _, err := c.c.Write(b); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, nil, false, err
	}
	var got *answer
	if keep {
		got = &answer{status: resp.StatusCode, header: resp.Header}
		got.body, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		return 0, nil, false, err
	}
	return resp.StatusCode, got, !resp.Close, nil
}

func (c *conn) close() { c.c.Close() }

// runLoad drives ep with spec.conns connections for spec.duration. The
// connections are opened (tunnels and TLS sessions included) before the
// clock starts. A request that fails or answers other than 200 counts as an
// error; a broken connection is re-opened and the time it takes is charged
// to the next request.
func runLoad(ctx context.Context, ep *endpoint, spec loadSpec) (loadResult, error) {
	conns := make([]*conn, spec.conns)
	for i := range conns {
		c, err := dial(ctx, ep)
		if err != nil {
			for _, o := range conns[:i] {
				o.close()
			}
			return loadResult{}, fmt.Errorf("open connection %d to %s: %w", i, ep.addr, err)
		}
		conns[i] = c
	}
	var (
		seq      atomic.Uint64
		wg       sync.WaitGroup
		mu       sync.Mutex
		res      loadResult
		lastDone time.Time
	)
	start := time.Now()
	deadline := start.Add(spec.duration)
	if spec.count > 0 {
		deadline = start.Add(24 * time.Hour)
	}
	interval := time.Duration(0)
	if spec.rate > 0 {
		interval = time.Duration(float64(time.Second) / spec.rate)
	}
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			var errs int
			var firstErr string
			var last time.Time
			body := make([]byte, 0, 2048)
			for ctx.Err() == nil {
				n := seq.Add(1) - 1
				if spec.count > 0 && n >= uint64(spec.count) {
					break
				}
				var due time.Time
				if interval > 0 {
					due = start.Add(time.Duration(n) * interval)
					if !due.Before(deadline) {
						break
					}
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				} else {
					due = time.Now()
					if !due.Before(deadline) {
						break
					}
				}
				body = spec.body(n, body[:0])
				if c == nil {
					nc, err := dial(ctx, ep)
					if err != nil {
						errs++
						if firstErr == "" {
							firstErr = err.Error()
						}
						time.Sleep(10 * time.Millisecond)
						continue
					}
					c = nc
				}
				status, _, alive, err := c.do(body, false)
				now := time.Now()
				switch {
				case err != nil:
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				case status != http.StatusOK:
					errs++
					if firstErr == "" {
						firstErr = "status " + strconv.Itoa(status)
					}
				default:
					lat = append(lat, now.Sub(due))
					last = now
				}
				if err != nil || !alive {
					c.close()
					c = nil
				}
			}
			if c != nil {
				c.close()
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			if res.firstErr == "" {
				res.firstErr = firstErr
			}
			if last.After(lastDone) {
				lastDone = last
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}
	slices.Sort(res.lat)
	res.requests = len(res.lat)
	end := lastDone
	if end.Before(deadline) {
		end = deadline
	}
	res.elapsed = end.Sub(start)
	return res, nil
}

// once sends one request on a new connection and returns the answer
// (set-up checks).
func once(ctx context.Context, ep *endpoint, body []byte) (*answer, error) {
	c, err := dial(ctx, ep)
	if err != nil {
		return nil, err
	}
	defer c.close()
	_, got, _, err := c.do(body, true)
	return got, err
}
