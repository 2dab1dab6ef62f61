package proxy

import (
	"container/list"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/internal/atomicfile"
	"github.com/aliasgate/aliasgate/internal/secretfile"
	"github.com/aliasgate/aliasgate/routes"
)

// Leaf certificate lifetimes and cache size.
const (
	leafValidity   = 24 * time.Hour
	leafRenewAhead = time.Hour // a cached leaf is replaced this long before it expires
	leafCacheSize  = 1024
)

// CA is the gateway's certificate authority: it signs the short-lived leaf
// certificates the outbound proxy presents to clients for intercepted
// hosts. Leaves are cached (bounded LRU) and signed once per host even
// under concurrent CONNECTs. It is safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	now     func() time.Time

	mu      sync.Mutex
	lru     *list.List // of *leafEntry, most recent first
	byHost  map[string]*list.Element
	pending map[string]*leafCall
	max     int
}

type leafEntry struct {
	host    string
	cert    *tls.Certificate
	renewAt time.Time
}

type leafCall struct {
	done chan struct{}
	cert *tls.Certificate
	err  error
}

// LoadOrCreateCA loads the CA from certPath and keyPath, or, when neither
// exists, creates an ECDSA P-256 self-signed CA and writes the key (0600)
// and the certificate (0644), in that order. The key without the
// certificate (its creator is writing it, or crashed between the two
// files) gets the certificate made again from it (certForKey); the
// certificate without the key is an error, and so is a CA certificate that
// has expired (ErrCAExpired) or is not valid yet (ErrNotYetValid).
func LoadOrCreateCA(certPath, keyPath string) (*CA, error) {
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := secretfile.Read(keyPath) // refused when others may read it
	switch {
	case cerr == nil && kerr == nil:
		return loadedCA(certPath, certPEM, keyPEM, time.Now())
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
	case errors.Is(cerr, fs.ErrNotExist) && kerr == nil:
		// The key without its certificate: its creator writes the key
		// first, so it is writing the certificate now, or it crashed (or
		// met a full disk) between the two files.
		return certForKey(certPath, keyPath, keyPEM)
	case cerr != nil && !errors.Is(cerr, fs.ErrNotExist):
		return nil, fmt.Errorf("proxy: read CA certificate: %w", cerr)
	case kerr != nil && !errors.Is(kerr, fs.ErrNotExist):
		return nil, fmt.Errorf("proxy: read CA key: %w", kerr)
	default:
		return nil, fmt.Errorf("proxy: CA certificate %s and key %s must both exist or both be absent", certPath, keyPath)
	}
	certPEM, keyPEM, err := newCAFiles(time.Now())
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteNew(keyPath, keyPEM, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process won: use its files
			return loadCAFiles(certPath, keyPath)
		}
		return nil, fmt.Errorf("proxy: write CA key: %w", err)
	}
	if err := atomicfile.WriteNew(certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("proxy: write CA certificate: %w", err)
	}
	return parseCA(certPEM, keyPEM)
}

// certForKey returns the CA of the key keyPEM (read from keyPath) whose
// certificate at certPath does not exist: the certificate its creator
// writes within a second, or else one made again from the key and written
// (the same key and subject: leaves it signs verify under a certificate
// clients already trust).
func certForKey(certPath, keyPath string, keyPEM []byte) (*CA, error) {
	if ca, err := loadCAFiles(certPath, keyPath); !errors.Is(err, fs.ErrNotExist) {
		return ca, err
	}
	key, err := parseCAKey(keyPEM)
	if err != nil {
		return nil, err
	}
	certPEM, err := caCertPEM(key, time.Now())
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteNew(certPath, certPEM, 0o644); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process made it meanwhile
			return loadCAFiles(certPath, keyPath)
		}
		return nil, fmt.Errorf("proxy: write CA certificate: %w", err)
	}
	return parseCA(certPEM, keyPEM)
}

func loadCAFiles(certPath, keyPath string) (*CA, error) {
	var certPEM []byte
	var err error
	for range 50 { // the winner writes the certificate right after the key
		if certPEM, err = os.ReadFile(certPath); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: read CA certificate: %w", err)
	}
	keyPEM, err := secretfile.Read(keyPath)
	if err != nil {
		return nil, fmt.Errorf("proxy: read CA key: %w", err)
	}
	return loadedCA(certPath, certPEM, keyPEM, time.Now())
}

// ErrCAExpired is wrapped by LoadOrCreateCA's error for a CA certificate
// past its NotAfter.
var ErrCAExpired = errors.New("expired")

// ErrNotYetValid is wrapped by LoadOrCreateCA's error for a CA certificate
// whose NotBefore is more than ClockSkew ahead.
var ErrNotYetValid = errors.New("not yet valid")

// ClockSkew is how far ahead of this machine's clock a certificate's
// NotBefore may be and the certificate still be taken (NotValidYet): the
// clock of the machine that made it may run a little ahead of this one's.
// The leaves the CA signs start as far back, for clients whose clocks run
// behind.
const ClockSkew = 5 * time.Minute

// NotValidYet reports whether a certificate valid from notBefore is not
// valid yet at now, beyond ClockSkew.
func NotValidYet(notBefore, now time.Time) bool { return notBefore.After(now.Add(ClockSkew)) }

// loadedCA parses the CA read from certPath and refuses one that has
// expired at now (ErrCAExpired, naming the file and the time), or is not
// valid yet (ErrNotYetValid, beyond ClockSkew): the leaves it signs would
// not verify under it, so every intercepted TLS connection would fail on
// the client's side while the gateway looked healthy.
func loadedCA(certPath string, certPEM, keyPEM []byte, now time.Time) (*CA, error) {
	ca, err := parseCA(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if na := ca.cert.NotAfter; !now.Before(na) {
		return nil, fmt.Errorf("proxy: the CA certificate %s %w at %s: every certificate it signs is refused; "+
			"renew it (the data dir's: move ca.pem and ca.key away and serve makes a new one) and give the new "+
			"certificate to the clients that trust it", certPath, ErrCAExpired, na.UTC().Format(time.RFC3339))
	}
	if nb := ca.cert.NotBefore; NotValidYet(nb, now) {
		return nil, fmt.Errorf("proxy: the CA certificate %s is %w: it is valid from %s, and until then every "+
			"certificate it signs is refused; check this machine's clock and the one of the machine that made it, "+
			"or make it again valid from now", certPath, ErrNotYetValid, nb.UTC().Format(time.RFC3339))
	}
	return ca, nil
}

func newCAFiles(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if certPEM, err = caCertPEM(key, now); err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// caCertPEM makes the self-signed CA certificate of key, valid from now
// (an hour before, for clocks behind) for 10 years.
func caCertPEM(key *ecdsa.PrivateKey, now time.Time) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "aliasgate outbound CA", Organization: []string{"aliasgate"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("proxy: CA certificate file holds no PEM CERTIFICATE")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("proxy: parse CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("proxy: the CA certificate is not a CA")
	}
	key, err := parseCAKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("proxy: the CA key does not match the CA certificate")
	}
	return &CA{
		cert: cert, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), key: key,
		now: time.Now, lru: list.New(), byHost: map[string]*list.Element{}, pending: map[string]*leafCall{},
		max: leafCacheSize,
	}, nil
}

// parseCAKey parses the CA's ECDSA key (PKCS #8 or SEC 1 PEM).
func parseCAKey(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("proxy: CA key file holds no PEM block")
	}
	var key *ecdsa.PrivateKey
	var err error
	switch kb.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	case "PRIVATE KEY":
		var k any
		if k, err = x509.ParsePKCS8PrivateKey(kb.Bytes); err == nil {
			var ok bool
			if key, ok = k.(*ecdsa.PrivateKey); !ok {
				err = errors.New("not an ECDSA key")
			}
		}
	default:
		err = fmt.Errorf("unexpected PEM type %q", kb.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: parse CA key: %w", err)
	}
	return key, nil
}

// NotAfter returns the time the CA certificate expires.
func (ca *CA) NotAfter() time.Time { return ca.cert.NotAfter }

// CertPEM returns the CA certificate in PEM, for clients to trust.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// Certificate returns the parsed CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n.Add(n, big.NewInt(1))
}

// Leaf returns a certificate for host (a DNS name or an IP address, no
// port), from the cache when a fresh one is there. Concurrent calls for one
// host sign once.
func (ca *CA) Leaf(host string) (*tls.Certificate, error) {
	host = routes.NormalizeHost(host)
	if host == "" {
		return nil, errors.New("proxy: no host to sign for")
	}
	now := ca.now()
	ca.mu.Lock()
	if el, ok := ca.byHost[host]; ok {
		e := el.Value.(*leafEntry)
		if now.Before(e.renewAt) {
			ca.lru.MoveToFront(el)
			ca.mu.Unlock()
			return e.cert, nil
		}
		ca.lru.Remove(el)
		delete(ca.byHost, host)
	}
	if c, ok := ca.pending[host]; ok {
		ca.mu.Unlock()
		<-c.done
		return c.cert, c.err
	}
	c := &leafCall{done: make(chan struct{})}
	ca.pending[host] = c
	ca.mu.Unlock()

	c.cert, c.err = ca.sign(host, now)

	ca.mu.Lock()
	delete(ca.pending, host)
	if c.err == nil {
		ca.byHost[host] = ca.lru.PushFront(&leafEntry{host: host, cert: c.cert, renewAt: c.cert.Leaf.NotAfter.Add(-leafRenewAhead)})
		for ca.lru.Len() > ca.max {
			old := ca.lru.Back()
			ca.lru.Remove(old)
			delete(ca.byHost, old.Value.(*leafEntry).host)
		}
	}
	ca.mu.Unlock()
	close(c.done)
	return c.cert, c.err
}

func (ca *CA) sign(host string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(leafValidity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		tmpl.IPAddresses = []net.IP{ip.AsSlice()}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("proxy: sign leaf certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}
