package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestListenerChainWithAnIntermediateNotValidYetIsRefused: a listener
// certificate file holds the leaf and the intermediates the clients need
// (certbot's fullchain.pem); every client checks the validity of each
// certificate of the chain, so an intermediate not valid yet (an issuing
// CA made on a machine whose clock ran ahead, a chain file assembled with
// a new intermediate staged early) makes every handshake fail as a leaf
// not valid yet does. Only the leaf was looked at: serve started and
// config check passed, naming nothing. Now the chain's certificates are
// held to the leaf's rule, the error naming the file and the time.
func TestListenerChainWithAnIntermediateNotValidYetIsRefused(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	from := now.Add(24 * time.Hour).UTC().Truncate(time.Second)
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	rootKey, interKey, leafKey := newKey(), newKey(), newKey()
	mk := func(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	caTmpl := func(serial int64, name string, notBefore time.Time) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: notBefore, NotAfter: now.AddDate(2, 0, 0), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	root := mk(caTmpl(1, "root", now.Add(-time.Hour)), caTmpl(1, "root", now.Add(-time.Hour)), &rootKey.PublicKey, rootKey)
	inter := mk(caTmpl(2, "intermediate", from), root, &interKey.PublicKey, rootKey)
	leaf := mk(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, inter, &leafKey.PublicKey, interKey)

	// What a client does with that chain.
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inters := x509.NewCertPool()
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters}); err == nil {
		t.Fatal("a client verified a chain whose intermediate is not valid yet")
	}

	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "key.pem")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})...)
	if err := os.WriteFile(certFile, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "aliasgate.yaml")
	if err := os.WriteFile(cfgFile, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND_CERT": certFile, "ALIASGATE_LISTEN_INBOUND_KEY": keyFile})
	for _, args := range [][]string{{"config", "check", "--config", cfgFile}, {"serve", "--config", cfgFile}} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var out, errb syncBuffer
		err := run(ctx, args, env, &out, &errb)
		cancel()
		if err == nil || !strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), "not yet valid") ||
			!strings.Contains(err.Error(), from.Format(time.RFC3339)) {
			t.Errorf("%v with an intermediate valid from %s: err = %v; want a refusal naming %s, not yet valid and the time", args, from.Format(time.RFC3339), err, certFile)
		}
	}
}
