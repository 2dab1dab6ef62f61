package main

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCA writes a CA certificate valid from notBefore to notAfter and its
// key (0600) into dir, and returns their paths.
func writeCA(t *testing.T, dir string, notBefore, notAfter time.Time) (certPath, keyPath string) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ops test CA"},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	certPath, keyPath, _ = writeSelfSigned(t, tmpl, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	return certPath, keyPath
}

// TestExpiredOutboundCAIsRefused: an outbound CA past its NotAfter (a
// configured one-year CA not renewed, the data dir's after ten years) was
// loaded without a word: serve started and signed leaves that expired
// with it, so every intercepted TLS request of the merchant's backend
// failed on "certificate has expired" while /readyz said 200, and config
// check called the configuration valid. Now serve, config check and ca
// cert refuse it, naming the file and the time it expired; a CA that
// expires within 30 days starts with a warning naming the date, and
// /metrics has the date (aliasgate_outbound_ca_not_after_seconds) for
// alerts on a gateway that is not restarted.
func TestExpiredOutboundCAIsRefused(t *testing.T) {
	now := time.Now()
	for _, where := range []string{"configured", "data dir"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			if err := os.MkdirAll(data, 0o700); err != nil {
				t.Fatal(err)
			}
			caDir := data
			if where == "configured" {
				caDir = dir
			}
			notAfter := now.Add(-time.Hour).UTC().Truncate(time.Second)
			certPath, keyPath := writeCA(t, caDir, now.AddDate(-1, 0, 0), notAfter)
			vars := map[string]string{}
			if where == "configured" {
				vars["ALIASGATE_OUTBOUND_CA_CERT"], vars["ALIASGATE_OUTBOUND_CA_KEY"] = certPath, keyPath
			}
			env := testEnv(vars)
			cfgFile := filepath.Join(dir, "aliasgate.yaml")
			if err := os.WriteFile(cfgFile, []byte("data_dir: "+data+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"serve", "--config", cfgFile}, {"config", "check", "--config", cfgFile}, {"ca", "cert", "--config", cfgFile}} {
				if args[0] == "config" && where != "configured" {
					continue // config check reads a configured CA only (the data dir's is serve's)
				}
				// A serve that starts runs until its context ends: it would
				// return nil then, a failure, rather than block the test.
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				var out, errb syncBuffer
				err := run(ctx, args, env, &out, &errb)
				cancel()
				if err == nil || !strings.Contains(err.Error(), certPath) || !strings.Contains(err.Error(), "expired") ||
					!strings.Contains(err.Error(), notAfter.Format(time.RFC3339)) {
					t.Errorf("%v with a CA that expired at %s: err = %v; want a refusal naming %s, expired and the time", args, notAfter.Format(time.RFC3339), err, certPath)
				}
			}

			// One that expires in ten days: serve starts and warns.
			soon := now.Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
			writeCA(t, caDir, now.AddDate(-1, 0, 0), soon)
			g := startGateway(t, env, "--data-dir", data)
			// And monitoring sees the date, for a gateway that runs on
			// past it without a restart.
			_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
			want := fmt.Sprintf("aliasgate_outbound_ca_not_after_seconds %g", float64(soon.Unix()))
			if !strings.Contains(string(metrics), want+"\n") {
				t.Errorf("/metrics lacks %q", want)
			}
			g.stop(t)
			if log := g.stderr.String(); !strings.Contains(log, "outbound CA") || !strings.Contains(log, soon.Format(time.RFC3339)) {
				t.Errorf("a CA that expires at %s started without a warning naming the date:\n%s", soon.Format(time.RFC3339), log)
			}
		})
	}
}

// TestNotYetValidCertificatesAreRefused: an outbound CA or a listener
// certificate whose NotBefore is still ahead (a CA made on a machine whose
// clock runs a day ahead, a -startdate typed wrong, a renewal staged early)
// was loaded without a word: the leaves the CA signs and the listener's
// certificate are refused by every client ("not yet valid") while the
// gateway looked healthy. Now serve, config check and ca cert refuse the
// CA, as an expired one, naming the file and the time it becomes valid,
// and serve and config check refuse the listener certificate likewise. A
// NotBefore within the clock skew allowed (proxy.ClockSkew, 5 minutes:
// this machine's clock a little behind the issuer's) is taken.
func TestNotYetValidCertificatesAreRefused(t *testing.T) {
	now := time.Now()
	from := now.Add(24 * time.Hour).UTC().Truncate(time.Second)
	t.Run("outbound CA", func(t *testing.T) {
		dir := t.TempDir()
		data := filepath.Join(dir, "data")
		certPath, keyPath := writeCA(t, dir, from, from.AddDate(1, 0, 0))
		env := testEnv(map[string]string{"ALIASGATE_OUTBOUND_CA_CERT": certPath, "ALIASGATE_OUTBOUND_CA_KEY": keyPath})
		cfgFile := filepath.Join(dir, "aliasgate.yaml")
		if err := os.WriteFile(cfgFile, []byte("data_dir: "+data+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"serve", "--config", cfgFile}, {"config", "check", "--config", cfgFile}, {"ca", "cert", "--config", cfgFile}} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			var out, errb syncBuffer
			err := run(ctx, args, env, &out, &errb)
			cancel()
			if err == nil || !strings.Contains(err.Error(), certPath) || !strings.Contains(err.Error(), "not yet valid") ||
				!strings.Contains(err.Error(), from.Format(time.RFC3339)) {
				t.Errorf("%v with a CA valid from %s: err = %v; want a refusal naming %s, not yet valid and the time", args, from.Format(time.RFC3339), err, certPath)
			}
		}
		// Within the skew allowed: taken.
		writeCA(t, dir, now.Add(time.Minute), now.AddDate(1, 0, 0))
		g := startGateway(t, env, "--data-dir", data)
		g.stop(t)
	})
	t.Run("listener", func(t *testing.T) {
		assertListenerCertRefused(t, from, from.Add(90*24*time.Hour), "not yet valid", from)
	})
}

// assertListenerCertRefused writes a self-signed listener certificate
// valid from notBefore to notAfter and checks that serve and config check
// refuse it, naming its file, what (not yet valid, expired) and at.
func assertListenerCertRefused(t *testing.T, notBefore, notAfter time.Time, what string, at time.Time) {
	t.Helper()
	dir := t.TempDir()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	certFile, keyFile, _ := writeSelfSigned(t, tmpl, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	cfgFile := filepath.Join(dir, "aliasgate.yaml")
	if err := os.WriteFile(cfgFile, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND_CERT": certFile, "ALIASGATE_LISTEN_INBOUND_KEY": keyFile})
	for _, args := range [][]string{{"serve", "--config", cfgFile}, {"config", "check", "--config", cfgFile}} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var out, errb syncBuffer
		err := run(ctx, args, env, &out, &errb)
		cancel()
		if err == nil || !strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), what) ||
			!strings.Contains(err.Error(), at.Format(time.RFC3339)) {
			t.Errorf("%v with a listener certificate %s (%s): err = %v; want a refusal naming %s, %s and the time", args, what, at.Format(time.RFC3339), err, certFile, what)
		}
	}
}

// TestExpiredListenerCertificatesAreRefused: a listener certificate (or an
// intermediate served with it) whose NotAfter has passed was loaded at
// start, and the gateway looked healthy while every client refused its
// TLS; it is refused as one not valid yet is (serve, config check), naming
// the file and the time. A renewal on disk that is expired is not taken:
// the pair in force is served.
func TestExpiredListenerCertificatesAreRefused(t *testing.T) {
	until := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	assertListenerCertRefused(t, until.Add(-90*24*time.Hour), until, "expired", until)

	// A renewal on disk that is expired: the pair in force stays served.
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	lc, err := newListenerCert("inbound", certFile, keyFile, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	first := certificateDER(t, certFile)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: until.Add(-90 * 24 * time.Hour), NotAfter: until, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	next := t.TempDir()
	newCert, newKey, _ := writeSelfSigned(t, tmpl, filepath.Join(next, "cert.pem"), filepath.Join(next, "key.pem"))
	for _, mv := range [][2]string{{newKey, keyFile}, {newCert, certFile}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	c, err := lc.get(nil)
	if err != nil || string(c.Certificate[0]) != first {
		t.Fatalf("after an expired renewal on disk: %v; want the certificate in force served", err)
	}
}
