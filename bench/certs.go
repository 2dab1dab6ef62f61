package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pspFiles are the processor's test PKI: its own CA (given to the gateway
// as outbound.ca_bundle and to the goproxy baseline) and a leaf for
// 127.0.0.1.
type pspFiles struct {
	caCert, cert, key string
}

// writePSPCerts creates the processor's test CA and leaf in dir.
func writePSPCerts(dir string) (pspFiles, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pspFiles{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aliasgate bench processor CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return pspFiles{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return pspFiles{}, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pspFiles{}, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return pspFiles{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		return pspFiles{}, err
	}
	f := pspFiles{caCert: filepath.Join(dir, "psp-ca.pem"), cert: filepath.Join(dir, "psp.pem"), key: filepath.Join(dir, "psp.key")}
	for _, w := range []struct {
		path, typ string
		der       []byte
	}{{f.caCert, "CERTIFICATE", caDER}, {f.cert, "CERTIFICATE", leafDER}, {f.key, "PRIVATE KEY", kder}} {
		if err := os.WriteFile(w.path, pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der}), 0o600); err != nil {
			return pspFiles{}, err
		}
	}
	return f, nil
}
