package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/elazarl/goproxy"
)

// The roles a re-executed harness binary plays, each in its own process so
// that its CPU and memory are its own: the upstreams and the baselines.
const (
	roleEcho         = "echo"         // HTTP upstream: answers the request body
	rolePSP          = "psp"          // HTTPS upstream (a processor): answers a fixed JSON
	roleReverseProxy = "reverseproxy" // baseline of scenarios 1 and 2
	roleGoproxy      = "goproxy"      // baseline of scenario 3
)

// A baseline role prints "tuning <policy>" (see baselines.go) before
// "listening <addr>"; the harness reports it.
const tuningPrefix = "tuning "

// A role started with -pprof prints "pprof <addr>" before "listening
// <addr>": the address of its /debug/pprof/profile and /debug/pprof/allocs.
const pprofPrefix = "pprof "

// servePprof serves the CPU and allocation profiles of this process on a
// loopback port of its own (not on the role's listener, whose CPU is what
// is measured), on a mux of its own.
func servePprof() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.Handle("/debug/pprof/allocs", pprof.Handler("allocs"))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// runRole serves one role until SIGTERM and returns the exit status.
func runRole(role string, args []string) int {
	log.SetFlags(0)
	log.SetPrefix("bench " + role + ": ")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	upstream := fs.String("upstream", "", "upstream URL (reverseproxy)")
	cert := fs.String("cert", "", "certificate PEM file (psp: its own; goproxy: the MITM CA)")
	key := fs.String("key", "", "key PEM file of -cert")
	roots := fs.String("roots", "", "PEM file of the roots that verify the upstream (goproxy)")
	expect := fs.String("expect", "", "psp: the value whose presence in a body X-Value-Seen reports")
	tuned := fs.Bool("tuned", false, "reverseproxy, goproxy: the gateway's GC policy and buffer pooling (see baselines.go)")
	profiled := fs.Bool("pprof", false, "reverseproxy, goproxy: serve CPU and allocation profiles on a loopback port (printed as \"pprof <addr>\")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var tuning string
	if role == roleReverseProxy || role == roleGoproxy {
		policy := stockGC()
		if *tuned {
			var stop func()
			stop, policy = tuneGC()
			defer stop()
		}
		tuning = policy
	}
	var h http.Handler
	var tlsCfg *tls.Config
	switch role {
	case roleEcho:
		h = echoHandler()
	case rolePSP:
		c, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			log.Print(err)
			return 1
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{c}, NextProtos: []string{"h2", "http/1.1"}}
		h = pspHandler([]byte(*expect))
	case roleReverseProxy:
		u, err := url.Parse(*upstream)
		if err != nil || u.Host == "" {
			log.Printf("bad -upstream %q", *upstream)
			return 2
		}
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.SetXForwarded()
			},
			Transport: upstreamTransport(nil),
			ErrorLog:  log.New(io.Discard, "", 0),
		}
		if *tuned {
			rp.BufferPool = &bufferPool{}
			tuning += fmt.Sprintf(", BufferPool of %d KiB buffers", gwCopyBufferSize>>10)
		} else {
			tuning += ", no BufferPool (a 32 KiB buffer allocated per response)"
		}
		h = rp
	case roleGoproxy:
		gp, err := goproxyBaseline(*cert, *key, *roots)
		if err != nil {
			log.Print(err)
			return 1
		}
		h = gp
		// goproxy v1.9.3 has no buffer-pool hook: its MITM loop writes each
		// response with http.Response.Write, whose body copy already takes
		// net/http's pooled 32 KiB buffers, in both kinds.
		tuning += ", net/http's pooled copy buffers (goproxy has no pool of its own)"
	default:
		log.Printf("unknown role %q", role)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Print(err)
		return 1
	}
	srv := &http.Server{Handler: h, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	if tuning != "" {
		fmt.Printf("%s%s\n", tuningPrefix, tuning)
	}
	if *profiled {
		addr, stop, err := servePprof()
		if err != nil {
			log.Print(err)
			return 1
		}
		defer stop()
		fmt.Printf("%s%s\n", pprofPrefix, addr)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case <-ctx.Done():
		srv.Close()
		return 0
	case err := <-errc:
		log.Print(err)
		return 1
	}
}

// bufPool holds the echo upstream's body buffers.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// echoHandler answers every request with its own body and Content-Type.
func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		defer bufPool.Put(buf)
		if _, err := buf.ReadFrom(r.Body); err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = w.Write(buf.Bytes())
	})
}

// pspAnswer is the processor's answer to every request.
const pspAnswer = `{"id":"ch_3Pq8x2bench","object":"charge","status":"succeeded","amount":12999,"currency":"eur","card":{"brand":"visa","last4":"1111"}}`

// pspHandler drains the body and answers pspAnswer. X-Value-Seen says
// whether the body held expect (the revealed card number).
func pspHandler(expect []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		defer bufPool.Put(buf)
		if _, err := buf.ReadFrom(r.Body); err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		seen := "0"
		if len(expect) > 0 && bytes.Contains(buf.Bytes(), expect) {
			seen = "1"
		}
		w.Header().Set("X-Value-Seen", seen)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(pspAnswer)))
		_, _ = io.WriteString(w, pspAnswer)
	})
}

// certCache is a goproxy.CertStorage: one leaf per host, as the gateway's
// CA cache keeps.
type certCache struct {
	mu sync.Mutex
	m  map[string]*tls.Certificate
}

// Fetch implements goproxy.CertStorage.
func (c *certCache) Fetch(host string, gen func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert, ok := c.m[host]; ok {
		return cert, nil
	}
	cert, err := gen()
	if err != nil {
		return nil, err
	}
	c.m[host] = cert
	return cert, nil
}

// goproxyBaseline is plain goproxy MITM with no rewrite: every CONNECT is
// intercepted with leaves of the CA in certFile/keyFile, and the
// destination is verified against roots.
func goproxyBaseline(certFile, keyFile, rootsFile string) (*goproxy.ProxyHttpServer, error) {
	ca, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("MITM CA: %w", err)
	}
	if ca.Leaf == nil {
		if ca.Leaf, err = x509.ParseCertificate(ca.Certificate[0]); err != nil {
			return nil, err
		}
	}
	pem, err := os.ReadFile(rootsFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", rootsFile)
	}
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = log.New(io.Discard, "", 0)
	gp.CertStore = &certCache{m: map[string]*tls.Certificate{}}
	mitm := &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(&ca)}
	gp.OnRequest().HandleConnect(goproxy.FuncHttpsHandler(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return mitm, host
	}))
	gp.Tr = upstreamTransport(roots)
	return gp, nil
}
