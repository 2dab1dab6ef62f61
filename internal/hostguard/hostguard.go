// Package hostguard keeps DNS rebinding and cross-origin writes away from a
// listener that serves a browser page or endpoints without a bearer token
// (the admin listener: the inspector, /metrics, /readyz).
//
// A page on a name its owner controls (evil.example) can have that name
// resolve to 127.0.0.1 once loaded: the operator's browser then sends the
// page's requests to the local listener as same-origin requests, and the
// page reads the answers. Such a request names the attacker's host in its
// Host header, which the browser always sends as the page's origin writes
// it. Wrap answers 421 to a request whose Host is not one of the names the
// listener is reached by, before any handler runs:
//
//   - no Host at all (HTTP/1.0: no browser sends one);
//   - an IP address literal (dotted IPv4, bracketed IPv6 without a zone):
//     a page whose origin is an address is served by that address, so it
//     cannot rebind;
//   - localhost (which resolves to loopback without DNS);
//   - a configured name (admin.allowed_hosts, and the host name
//     listen.admin binds: cmd/aliasgate adminHostNames), compared
//     case-insensitively and exactly: a trailing dot is another name, as
//     it is to a browser.
//
// The port in Host is not compared for addresses, localhost and entries
// configured without one: the browser writes the port it connected to,
// which a container's mapped port, kubectl port-forward or an SSH tunnel
// make another than the listener's, and a rebinding page is told apart by
// its name alone (its origin must be the attacker's name to be same-origin
// with itself). An entry configured as host:port accepts that name at that
// port only.
//
// A state-changing request (any method but GET, HEAD and OPTIONS) that a
// browser marks as coming from another origin (Origin, or Sec-Fetch-Site
// cross-site or same-site) is answered 403: a plain cross-site page can
// post a form to 127.0.0.1 with an allowed Host.
package hostguard

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Guard checks the Host and Origin of a listener's requests.
type Guard struct {
	names map[string]bool // configured entries: "name" or "name:port", lower case
}

// New returns a guard that also accepts the names of allowed, each a host
// name or host:port (validated by ParseName).
func New(allowed []string) (*Guard, error) {
	g := &Guard{names: map[string]bool{}}
	for _, a := range allowed {
		n, err := ParseName(a)
		if err != nil {
			return nil, err
		}
		g.names[n] = true
	}
	return g, nil
}

// ParseName checks one configured entry (a DNS name or an address, with an
// optional numeric port) and returns it in lower case.
func ParseName(s string) (string, error) {
	name, port, err := split(s)
	if err != nil || name == "" {
		return "", fmt.Errorf("%q is not a host name or host:port", s)
	}
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err != nil {
		for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
			if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
				return "", fmt.Errorf("%q is not a host name or host:port", s)
			}
		}
	}
	if port != "" {
		return name + ":" + port, nil
	}
	return name, nil
}

// split returns the lower-case host and the port of a Host value, the
// host of an IPv6 literal with its brackets.
func split(host string) (name, port string, err error) {
	host = strings.ToLower(host)
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", "", fmt.Errorf("unclosed bracket")
		}
		name, rest := host[:end+1], host[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", "", fmt.Errorf("junk after the address")
			}
			port = rest[1:]
		}
		a, err := netip.ParseAddr(name[1 : len(name)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "", fmt.Errorf("not an IPv6 address")
		}
		return name, port, checkPort(port, rest != "")
	}
	name, port, hasPort := strings.Cut(host, ":")
	if strings.Contains(port, ":") {
		return "", "", fmt.Errorf("an IPv6 address without brackets")
	}
	return name, port, checkPort(port, hasPort)
}

func checkPort(port string, has bool) error {
	if !has {
		return nil
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port[0] == '+' || n == 0 {
		return fmt.Errorf("bad port")
	}
	return nil
}

// HostAllowed reports whether host (a request's Host) names this listener.
func (g *Guard) HostAllowed(host string) bool {
	if host == "" {
		return true
	}
	name, port, err := split(host)
	if err != nil || name == "" {
		return false
	}
	if port != "" && g.names[name+":"+port] {
		return true
	}
	if name == "localhost" || g.names[name] {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(name, "[]"))
	return err == nil && a.Zone() == "" && (a.Is6() == strings.HasPrefix(name, "["))
}

// CrossOrigin returns why a state-changing request is refused as coming
// from another origin, or "": Sec-Fetch-Site other than same-origin or
// none, or an Origin whose host:port is not the request's Host (a null or
// unreadable Origin included). Requests without either header (not from a
// browser, or from an old one on the same origin) pass.
func CrossOrigin(r *http.Request) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "cross-site request refused"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, r.Host) {
			return "cross-origin request refused"
		}
	}
	return ""
}

// safeMethod: methods a browser page may send cross-origin without
// changing anything the server keeps.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// Wrap returns next behind the guard: 421 for a Host that does not name
// the listener, 403 for a cross-origin state-changing request, both as
// {"error": …} JSON with Cache-Control: no-store; the Host is not echoed.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.HostAllowed(r.Host) {
			refuse(w, http.StatusMisdirectedRequest, "this listener does not serve the host named in the request "+
				"(it answers to its addresses, localhost and admin.allowed_hosts)")
			return
		}
		if !safeMethod(r.Method) {
			if msg := CrossOrigin(r); msg != "" {
				refuse(w, http.StatusForbidden, msg)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func refuse(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "close")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"error\":%q}\n", msg)
}
