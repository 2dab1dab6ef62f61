package inspector

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/internal/hostguard"
	"github.com/aliasgate/aliasgate/internal/lockout"
)

//go:embed assets
var assets embed.FS

// Paths and names of the page.
const (
	// Prefix is where the inspector is mounted on the admin listener.
	Prefix = "/ui/"
	// CSRFHeader must be sent with every POST to the API.
	CSRFHeader = "X-Aliasgate-Inspector"
	// CookieName is the session cookie.
	CookieName = "aliasgate_inspector"

	sessionTTL  = 12 * time.Hour
	maxSessions = 64
	maxAPIBody  = 1 << 20
)

// contentSecurityPolicy allows the page's own files and nothing else: no
// inline script or style, no frames, no other origins.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler returns the page and API, to mount at Prefix on the admin
// listener (mux.Handle(inspector.Prefix, h)). The listener must answer
// only its own names (cmd/aliasgate wraps it in internal/hostguard): the
// page's session cookie is bound to the name, but a page on a name rebound
// to the listener's address would read whatever needs no cookie.
func (i *Inspector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui/{$}", i.page)
	mux.HandleFunc("GET /ui/login", i.loginPage)
	mux.HandleFunc("POST /ui/login", i.login)
	mux.HandleFunc("POST /ui/logout", i.logout)
	mux.HandleFunc("GET /ui/static/{file}", i.static)
	mux.Handle("GET /ui/api/captures", i.api(i.listCaptures))
	mux.Handle("GET /ui/api/captures/{id}", i.api(i.getCapture))
	mux.Handle("GET /ui/api/events", i.api(i.events))
	mux.Handle("GET /ui/api/routes", i.api(i.getRoutes))
	mux.Handle("POST /ui/api/propose", i.api(i.propose))
	mux.Handle("POST /ui/api/preview", i.api(i.preview))
	mux.Handle("POST /ui/api/apply", i.api(i.apply))
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "not found")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin") // no-referrer would make form posts send Origin: null
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

// api wraps an API handler: authentication (session cookie or bearer
// token), and for POSTs the CSRF checks.
func (i *Inspector) api(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := i.authenticate(w, r)
		if !ok {
			return
		}
		if r.Method == http.MethodPost && !bearer {
			if msg := csrfProblem(r, true); msg != "" {
				writeJSONError(w, http.StatusForbidden, msg)
				return
			}
		}
		h(w, r)
	})
}

// authenticate checks the bearer token or the session cookie and answers
// 401 (or 429 while the address is locked out after wrong tokens) when
// neither holds. bearer reports that the request authenticated with the
// token itself.
func (i *Inspector) authenticate(w http.ResponseWriter, r *http.Request) (bearer, ok bool) {
	if v := r.Header.Get("Authorization"); v != "" {
		scheme, tok, _ := strings.Cut(v, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			writeJSONError(w, http.StatusUnauthorized, "send Authorization: Bearer <admin token> or log in at /ui/login")
			return false, false
		}
		ok, answered := false, false
		if tok = strings.TrimSpace(tok); tok != "" { // an empty token is no guess: not counted
			ok, answered = i.tryToken(w, r, tok, "")
		}
		if answered {
			return false, false
		}
		if !ok {
			writeJSONError(w, http.StatusUnauthorized, "wrong admin token")
			return false, false
		}
		return true, true
	}
	if c, err := r.Cookie(CookieName); err == nil && i.sessions.valid(c.Value) {
		return false, true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="aliasgate inspector"`)
	writeJSONError(w, http.StatusUnauthorized, "log in at /ui/login or send Authorization: Bearer <admin token>")
	return false, false
}

// sessionCheck returns a function that reports whether the credential r
// was authenticated with still holds: always for the admin token (a bearer
// request), and while its session is valid for a session cookie.
func (i *Inspector) sessionCheck(r *http.Request) func() bool {
	if r.Header.Get("Authorization") != "" {
		return func() bool { return true }
	}
	id := ""
	if c, err := r.Cookie(CookieName); err == nil {
		id = c.Value
	}
	return func() bool { return i.sessions.valid(id) }
}

// tryToken checks tok through the lockout table, under the TCP peer's
// address (lockout.Key of RemoteAddr). While the address is locked out it
// answers 429 itself (answered) without comparing; otherwise ok reports
// whether tok is the admin token, and a wrong one is logged (where says
// where it was sent).
func (i *Inspector) tryToken(w http.ResponseWriter, r *http.Request, tok, where string) (ok, answered bool) {
	addr := lockout.Key(r.RemoteAddr)
	v, wait := i.lockout.Try(addr, func() bool { return i.tokenOK(tok) })
	switch {
	case v == lockout.Allowed:
		return true, false
	case v == lockout.LockedOut:
		lockout.WriteLockedOut(w, wait)
		return false, true
	case wait > 0:
		i.log.Warn("inspector: address locked out after wrong admin tokens"+where, "remote", r.RemoteAddr, "address", addr, "for", wait.String())
	default:
		i.log.Warn("inspector: wrong admin token"+where, "remote", r.RemoteAddr)
	}
	return false, false
}

// tokenOK compares tok with the admin token in constant time. Both are
// hashed first so that the time does not depend on their lengths either.
func (i *Inspector) tokenOK(tok string) bool {
	a := sha256.Sum256([]byte(tok))
	b := sha256.Sum256([]byte(i.opts.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// csrfProblem returns why a state-changing request is refused, or "": the
// request must come from this origin (Origin and Sec-Fetch-Site, when the
// browser sends them: hostguard.CrossOrigin, the rule the admin listener
// applies to every state-changing request before this handler) and, for
// the API, carry the custom header, which a cross-site form or a simple
// cross-origin fetch cannot set.
func csrfProblem(r *http.Request, needHeader bool) string {
	if needHeader && r.Header.Get(CSRFHeader) == "" {
		return "missing " + CSRFHeader + " header"
	}
	return hostguard.CrossOrigin(r)
}

// page serves the inspector page, or sends the browser to the login form.
func (i *Inspector) page(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err != nil || !i.sessions.valid(c.Value) {
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	serveAsset(w, http.StatusOK, "index.html")
}

func (i *Inspector) loginPage(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, http.StatusOK, "login.html")
}

// login checks the token of the login form and sets the session cookie.
func (i *Inspector) login(w http.ResponseWriter, r *http.Request) {
	if msg := csrfProblem(r, false); msg != "" {
		writeJSONError(w, http.StatusForbidden, msg)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	tok := ""
	if err := r.ParseForm(); err == nil {
		tok = r.PostForm.Get("token")
	}
	ok, answered := false, false
	if tok != "" { // an empty or unreadable form is no guess: not counted
		ok, answered = i.tryToken(w, r, tok, " at login")
	}
	if answered {
		return
	}
	if !ok {
		serveAsset(w, http.StatusUnauthorized, "login-failed.html")
		return
	}
	id, err := i.sessions.create()
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "cannot create a session")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(sessionTTL / time.Second)})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (i *Inspector) logout(w http.ResponseWriter, r *http.Request) {
	if msg := csrfProblem(r, false); msg != "" {
		writeJSONError(w, http.StatusForbidden, msg)
		return
	}
	if c, err := r.Cookie(CookieName); err == nil {
		i.sessions.delete(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func (i *Inspector) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	switch path.Ext(name) {
	case ".js", ".css", ".svg":
		serveAsset(w, http.StatusOK, name)
	default:
		writeJSONError(w, http.StatusNotFound, "not found")
	}
}

func serveAsset(w http.ResponseWriter, code int, name string) {
	b, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil {
		writeJSONError(w, http.StatusNotFound, "not found")
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// listCaptures answers the newest entries' summaries, newest first.
func (i *Inspector) listCaptures(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	list := i.buf.List(limit)
	out := make([]Summary, len(list))
	for k, e := range list {
		out[k] = e.Summary()
	}
	writeJSON(w, http.StatusOK, map[string]any{"captures": out, "size": i.buf.Size()})
}

// getCapture answers one entry with its views.
func (i *Inspector) getCapture(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "capture ids are numbers")
		return
	}
	e, ok := i.buf.Get(id)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "no such capture (the buffer keeps the latest "+strconv.Itoa(i.buf.Size())+")")
		return
	}
	writeJSON(w, http.StatusOK, entryJSON(e))
}

// events streams new captures as server-sent events: "capture" with a
// Summary, "reset" when the client missed some and should reload the list.
// A stream opened with a session ends once that session does (logout,
// expiry): it is checked again before every event and ping.
func (i *Inspector) events(w http.ResponseWriter, r *http.Request) {
	live := i.sessionCheck(r)
	rc := http.NewResponseController(w)
	sub := i.buf.Subscribe()
	defer sub.Cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(s string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n: connected\n\n") {
		return
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		var msg string
		select {
		case <-r.Context().Done():
			return
		case <-i.closing:
			return
		case <-ping.C:
			if !live() {
				return
			}
			msg = ": ping\n\n"
		case e, ok := <-sub.C:
			if !ok || !live() {
				return
			}
			if sub.Lagged() {
				msg = "event: reset\ndata: {}\n\n"
			}
			b, err := json.Marshal(e.Summary())
			if err != nil {
				return
			}
			msg += "event: capture\nid: " + strconv.FormatUint(e.ID, 10) + "\ndata: " + string(b) + "\n\n"
		}
		if !send(msg) {
			return
		}
	}
}

// decodeRequest reads a JSON API body into v.
func decodeRequest(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSONError(w, http.StatusUnsupportedMediaType, "send application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSONError(w, http.StatusBadRequest, "malformed request: "+jsonErrorText(err))
		return false
	}
	return true
}

// jsonErrorText describes a decoding error without echoing the input.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("not JSON (offset %d)", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be %s", te.Field, te.Type)
	case errors.As(err, &mbe):
		return "body too large"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "cannot be read"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// viewJSON is a View as the API sends it: the body split into parts, each
// plain text or a targetable field (its index in fields).
type viewJSON struct {
	*View
	Parts []partJSON `json:"parts,omitempty"`
}

type partJSON struct {
	Text  string `json:"t"`
	Field int    `json:"f"`
}

func (v *View) jsonValue() *viewJSON {
	if v == nil {
		return nil
	}
	out := &viewJSON{View: v}
	last := 0
	for k, f := range v.Fields {
		if f.end <= f.start || f.start < last || f.end > len(v.Body) {
			continue
		}
		if f.start > last {
			out.Parts = append(out.Parts, partJSON{Text: v.Body[last:f.start], Field: -1})
		}
		out.Parts = append(out.Parts, partJSON{Text: v.Body[f.start:f.end], Field: k})
		last = f.end
	}
	if out.Parts != nil && last < len(v.Body) {
		out.Parts = append(out.Parts, partJSON{Text: v.Body[last:], Field: -1})
	}
	return out
}

type passageJSON struct {
	Received *viewJSON `json:"received"`
	Sent     *viewJSON `json:"sent"`
}

func entryJSON(e *Entry) any {
	return struct {
		*Entry
		Request  passageJSON `json:"request"`
		Response passageJSON `json:"response"`
	}{
		Entry:    e,
		Request:  passageJSON{e.Request.Received.jsonValue(), e.Request.Sent.jsonValue()},
		Response: passageJSON{e.Response.Received.jsonValue(), e.Response.Sent.jsonValue()},
	}
}

// sessions are the logged-in browsers: random ids, kept as their SHA-256.
type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]time.Time // expiry
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[[32]byte]time.Time{}, now: now}
}

func (s *sessions) create() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("inspector: session id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest [32]byte
	var oldestExp time.Time
	for k, exp := range s.m {
		if !now.Before(exp) {
			delete(s.m, k)
		} else if oldestExp.IsZero() || exp.Before(oldestExp) {
			oldest, oldestExp = k, exp
		}
	}
	if len(s.m) >= maxSessions {
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = now.Add(sessionTTL)
	return id, nil
}

func (s *sessions) valid(id string) bool {
	if id == "" {
		return false
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.m[k]
	if ok && !s.now().Before(exp) {
		delete(s.m, k)
		return false
	}
	return ok
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	delete(s.m, sha256.Sum256([]byte(id)))
	s.mu.Unlock()
}
