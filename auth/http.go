package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/lockout"
)

const (
	// realm is the realm of WWW-Authenticate challenges.
	realm = "aliasgate"
	// MaxTokenRequestBody bounds the body of a token request.
	MaxTokenRequestBody = 64 << 10
	// formMediaType is the media type of token requests.
	formMediaType = "application/x-www-form-urlencoded"
)

type principalKey struct{}

// NewContext returns a copy of ctx that carries p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal stored by NewContext (and by Require).
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// PrincipalFromRequest authenticates r by its Authorization header:
// "Bearer <jwt>" (VerifyToken), or, when allowBasic is set, "Basic" with a
// client id and secret (Authenticate; id and secret are taken as is, as the
// VGS vault API v1 does), which gives all of the client's scopes. Errors:
// ErrNoCredentials without a usable Authorization header (also Basic when
// not allowed), ErrInvalidToken, ErrInvalidCredentials, ErrOutboundOnly for
// outbound clients; anything else is a store failure.
func (s *Service) PrincipalFromRequest(r *http.Request, allowBasic bool) (Principal, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return Principal{}, ErrNoCredentials
	case 1:
	default:
		return Principal{}, fmt.Errorf("auth: more than one Authorization header: %w", ErrInvalidCredentials)
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if rest == "" {
			return Principal{}, fmt.Errorf("%w: empty bearer token", ErrInvalidToken)
		}
		return s.VerifyTokenContext(r.Context(), rest)
	case strings.EqualFold(scheme, "Basic"):
		if !allowBasic {
			return Principal{}, fmt.Errorf("auth: Basic authentication not accepted here: %w", ErrNoCredentials)
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			return Principal{}, fmt.Errorf("auth: malformed Basic credentials: %w", ErrInvalidCredentials)
		}
		c, err := s.Authenticate(r.Context(), id, secret)
		if err != nil {
			return Principal{}, err
		}
		if c.Outbound {
			return Principal{}, fmt.Errorf("auth: client %s: %w", c.ID, ErrOutboundOnly)
		}
		return Principal{
			ClientID:    c.ID,
			Account:     c.Account,
			Scopes:      c.Scopes,
			PCI:         c.PCI,
			Fingerprint: c.fingerprint,
		}, nil
	default:
		return Principal{}, fmt.Errorf("auth: unsupported authorization scheme: %w", ErrNoCredentials)
	}
}

// isAuthFailure reports whether err means bad or missing credentials (401)
// rather than a failure of the gateway.
func isAuthFailure(err error) bool {
	return errors.Is(err, ErrNoCredentials) || errors.Is(err, ErrInvalidToken) ||
		errors.Is(err, ErrInvalidCredentials) || errors.Is(err, ErrOutboundOnly)
}

// Limit decides whether an authenticated client's request may go on now
// and, when it may not, how long until it may; remaining is how many more
// requests the client may make at once (negative: not known), sent as
// X-RateLimit-Remaining on every answer (VGS's vault API does). A token
// bucket per client id ((*ratelimit.Limiter).Take of 1) is one.
type Limit func(clientID string) (ok bool, wait time.Duration, remaining int)

// WithLimit returns a Service that shares s's client store, signing key
// and options and whose Require, once a request is authenticated, asks
// limit whether the client may go on, before the scope check: a request
// the client's scopes do not cover is one of its requests too (its 403
// carries X-RateLimit-Remaining), as a token request asking for a scope
// the client lacks is. When it may not, the request is answered 429 Too
// Many Requests with Retry-After (the wait in whole seconds, rounded up, at
// least 1) and a JSON:API error document in Require's contentType, and the
// guarded handler does not run. Requests refused by authentication never
// reach limit: they are no client's. s itself is unchanged, so each API
// can be given its own limit (or metric).
func (s *Service) WithLimit(limit Limit) *Service {
	c := *s
	c.limit = limit
	return &c
}

// Require returns middleware that authenticates each request with
// PrincipalFromRequest, asks the Service's Limit if it has one
// (WithLimit), checks that the principal holds scope (an empty scope
// requires authentication only), stores the principal in the request context
// (FromContext) and calls next. It is the one authorisation middleware of
// the APIs: they declare the interface they use (cards.Guard,
// vaultapi.Guard) and get a *Service. Failures are error documents in
// contentType (jsonapi.WriteError: JSON:API's, or those of the response's
// jsonapi.ErrorDocumenter, as the vault API's VGS documents): 401 with a
// WWW-Authenticate Bearer challenge (and a Basic one when allowBasic) for
// missing or bad credentials, 403 for a missing scope, 429 with
// Retry-After over the limit, 429 locked_out with Retry-After from a
// source address locked out after failed credentials (Options.Lockout:
// the credentials are not checked), 503 with Retry-After when the client store
// fails and Options.Unavailable says it may pass, 500 otherwise. It panics on an unknown scope, a wiring mistake.
func (s *Service) Require(scope string, allowBasic bool, contentType string, next http.Handler) http.Handler {
	if scope != "" && !IsKnownScope(scope) {
		panic(fmt.Sprintf("auth: Require: unknown scope %q", scope))
	}
	limit := s.limit
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p Principal
		var limited limitVerdict
		locked, wait, err := s.guarded(r, func() (err error) {
			p, err = s.PrincipalFromRequest(r, allowBasic)
			if err == nil {
				// Before the scope check: a request the client's scopes
				// do not cover is one of its requests too, as a token
				// request asking for a scope it lacks is. Inside the
				// check: a request the limit refuses does not clear the
				// address (errOverLimit is Void), or a guesser's own
				// client over its rate would give it its free failures
				// again with every refused request.
				err = limited.ask(limit, p.ClientID)
			}
			return err
		})
		if limited.asked && limited.remaining >= 0 {
			w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(limited.remaining))
		}
		switch {
		case locked:
			after := retryAfter(wait)
			w.Header().Set("Retry-After", after)
			jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusTooManyRequests, "locked_out",
				"Too Many Requests", lockedOutDetail(after)))
			return
		case err == nil:
		case errors.Is(err, errOverLimit):
			after := retryAfter(limited.wait)
			w.Header().Set("Retry-After", after)
			jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusTooManyRequests, "rate_limited",
				"Too Many Requests", "this client is over its request rate; retry after "+after+" s"))
			return
		case isAuthFailure(err):
			s.log.DebugContext(r.Context(), "auth: request refused", "reason", err.Error())
			challenge := `Bearer realm="` + realm + `"`
			// What to send: a token from the token endpoint, and, where
			// the API takes it, HTTP Basic with the client's id and secret.
			detail := "send a valid access token: Authorization: Bearer <token>, from POST /oauth/token"
			if allowBasic {
				detail += ", or HTTP Basic with the client id and secret"
			}
			switch {
			case errors.Is(err, ErrInvalidToken):
				challenge += `, error="invalid_token"`
				detail = "the access token is invalid or expired"
			case errors.Is(err, ErrOutboundOnly):
				// The secret was right (Authenticate passed): say what
				// the credentials are for, as the token endpoint does.
				detail = "these are outbound proxy credentials: they authenticate to the outbound proxy only"
			case errors.Is(err, ErrInvalidCredentials):
				detail = "the client credentials are invalid"
			}
			w.Header().Add("WWW-Authenticate", challenge)
			if allowBasic {
				w.Header().Add("WWW-Authenticate", `Basic realm="`+realm+`"`)
			}
			jsonapi.WriteError(w, contentType,
				jsonapi.NewError(http.StatusUnauthorized, "unauthorized", "Unauthorized", detail))
			return
		default:
			s.log.ErrorContext(r.Context(), "auth: client store failed", "error", err.Error())
			if !s.storeUnavailable(err) {
				jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusInternalServerError, "internal_error",
					"Internal Server Error", "credentials cannot be checked"))
				return
			}
			w.Header().Set("Retry-After", "1")
			jsonapi.WriteError(w, contentType,
				jsonapi.NewError(http.StatusServiceUnavailable, "store_unavailable", "Service Unavailable",
					"credentials cannot be checked right now; retry later"))
			return
		}
		if scope != "" && !p.HasScope(scope) {
			w.Header().Add("WWW-Authenticate",
				`Bearer realm="`+realm+`", error="insufficient_scope", scope="`+scope+`"`)
			jsonapi.WriteError(w, contentType,
				jsonapi.NewError(http.StatusForbidden, "insufficient_scope", "Forbidden",
					"the client lacks the scope "+scope))
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// retryAfter formats a wait as the value of a Retry-After header: whole
// seconds, rounded up, at least 1 (lockout.RetryAfter, the one rule).
func retryAfter(d time.Duration) string { return lockout.RetryAfter(d) }

// oauthError is an RFC 6749 §5.2 error.
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func oauthErr(status int, code, desc string) *oauthError {
	return &oauthError{status: status, Code: code, Description: desc}
}

// tokenResponse is an RFC 6749 §5.1 access token response.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

func writeOAuthJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // cannot fail for these types
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// TokenHandler returns the handler of POST /oauth/token, the OAuth 2.0
// client credentials grant (RFC 6749 §4.4). The request is a POST with an
// application/x-www-form-urlencoded body of at most 64 KiB holding
// grant_type=client_credentials and an optional space-separated scope
// (default: all of the client's scopes). The client authenticates with
// HTTP Basic (id and secret form-urlencoded, RFC 6749 §2.3.1) or with the
// form parameters client_id and client_secret, not both.
//
// Success is 200 {"access_token","token_type":"Bearer","expires_in","scope"}.
// Errors use the RFC 6749 §5.2 shape {"error","error_description"}: 405
// (with Allow) for another method, 415 for another body type, 413 for a
// body over the limit, 400 invalid_request (malformed or repeated
// parameters, two authentication methods, missing grant_type), 400
// unsupported_grant_type, 400 invalid_scope, 401 invalid_client (with a
// WWW-Authenticate Basic challenge) for missing or bad credentials and for
// outbound clients, 429 temporarily_unavailable with Retry-After when the
// authenticated client is over the Service's Limit (WithLimit: a token
// request takes from the client's bucket like an API request, and every
// answer after authentication carries X-RateLimit-Remaining), 429
// temporarily_unavailable with Retry-After from a source address locked
// out after failed client authentications (Options.Lockout: the
// credentials are not checked; missing or malformed ones are refused
// before, uncounted), 503
// temporarily_unavailable with Retry-After when the client store fails
// and Options.Unavailable says it may pass, 500 server_error otherwise
// (the store refuses the gateway: no retry mends it). Every answer
// carries Cache-Control: no-store and Pragma: no-cache.
func (s *Service) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := s.handleToken(w, r)
		if err != nil {
			var oe *oauthError
			if !errors.As(err, &oe) {
				oe = oauthErr(http.StatusInternalServerError, "server_error", "")
			}
			if oe.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
			}
			writeOAuthJSON(w, oe.status, oe)
			return
		}
		writeOAuthJSON(w, http.StatusOK, resp)
	})
}

func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) (tokenResponse, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return tokenResponse{}, oauthErr(http.StatusMethodNotAllowed, "invalid_request", "use POST")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != formMediaType {
		return tokenResponse{}, oauthErr(http.StatusUnsupportedMediaType, "invalid_request",
			"send the request body as "+formMediaType)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxTokenRequestBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return tokenResponse{}, oauthErr(http.StatusRequestEntityTooLarge, "invalid_request",
				"the request body is larger than 64 KiB")
		}
		return tokenResponse{}, oauthErr(http.StatusBadRequest, "invalid_request", "the request body could not be read")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return tokenResponse{}, oauthErr(http.StatusBadRequest, "invalid_request", "the request body is not a valid form")
	}
	for k, v := range form {
		if len(v) > 1 {
			// RFC 6749 §3.2: parameters must not be repeated. Name only
			// known parameters: a key could be anything.
			name := "a parameter"
			switch k {
			case "grant_type", "scope", "client_id", "client_secret":
				name = k
			}
			return tokenResponse{}, oauthErr(http.StatusBadRequest, "invalid_request", name+" is repeated")
		}
	}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		return tokenResponse{}, oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is missing")
	default:
		return tokenResponse{}, oauthErr(http.StatusBadRequest, "unsupported_grant_type",
			"only grant_type=client_credentials is supported")
	}

	id, secret, err := tokenRequestCredentials(r, form)
	if err != nil {
		return tokenResponse{}, err
	}
	var c Client
	var limited limitVerdict
	locked, wait, err := s.guarded(r, func() (err error) {
		c, err = s.Authenticate(r.Context(), id, secret)
		if err == nil && c.Outbound {
			// The secret was right, for the outbound proxy: not a
			// guess, and no token either (below).
			return fmt.Errorf("auth: client %s: %w", c.ID, ErrOutboundOnly)
		}
		if err == nil {
			// A token request is one of the client's requests: over its
			// rate it could otherwise go on making the gateway read its
			// record, sign and check tokens without limit. Inside the
			// check, as Require's: a refused request does not clear the
			// address.
			err = limited.ask(s.limit, c.ID)
		}
		return err
	})
	if limited.asked && limited.remaining >= 0 {
		// What is left of the client's bucket, as on its API answers.
		w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(limited.remaining))
	}
	switch {
	case locked:
		after := retryAfter(wait)
		w.Header().Set("Retry-After", after)
		return tokenResponse{}, oauthErr(http.StatusTooManyRequests, "temporarily_unavailable", lockedOutDetail(after))
	case err == nil:
	case errors.Is(err, errOverLimit):
		after := retryAfter(limited.wait)
		w.Header().Set("Retry-After", after)
		return tokenResponse{}, oauthErr(http.StatusTooManyRequests, "temporarily_unavailable",
			"this client is over its request rate; retry after "+after+" s")
	case errors.Is(err, ErrOutboundOnly):
		// c is the outbound client whose secret was right: refused below,
		// as before the lockout.
	case errors.Is(err, ErrInvalidCredentials):
		s.log.DebugContext(r.Context(), "auth: token request refused", "reason", err.Error())
		return tokenResponse{}, oauthErr(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	default:
		s.log.ErrorContext(r.Context(), "auth: client store failed", "error", err.Error())
		if !s.storeUnavailable(err) {
			return tokenResponse{}, oauthErr(http.StatusInternalServerError, "server_error", "")
		}
		w.Header().Set("Retry-After", "1")
		return tokenResponse{}, oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable",
			"client credentials cannot be checked right now; retry later")
	}
	if c.Outbound {
		s.log.DebugContext(r.Context(), "auth: token request refused", "reason", "outbound client", "client_id", c.ID)
		return tokenResponse{}, oauthErr(http.StatusUnauthorized, "invalid_client",
			"outbound proxy credentials cannot get access tokens")
	}
	tok, ttl, err := s.IssueToken(c, strings.Fields(form.Get("scope")))
	switch {
	case err == nil:
	case errors.Is(err, ErrInvalidScope):
		return tokenResponse{}, oauthErr(http.StatusBadRequest, "invalid_scope",
			"the requested scope is unknown or not granted to the client")
	default:
		s.log.ErrorContext(r.Context(), "auth: issue token failed", "error", err.Error())
		return tokenResponse{}, oauthErr(http.StatusInternalServerError, "server_error", "")
	}
	p, err := s.VerifyTokenContext(r.Context(), tok)
	if err != nil {
		// Only a misconfigured clock or key could get here.
		s.log.ErrorContext(r.Context(), "auth: issued token does not verify", "error", err.Error())
		return tokenResponse{}, oauthErr(http.StatusInternalServerError, "server_error", "")
	}
	return tokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(ttl / time.Second),
		Scope:       strings.Join(p.Scopes, " "),
	}, nil
}

// tokenRequestCredentials returns the client id and secret of a token
// request, from HTTP Basic or from the form, refusing both at once.
func tokenRequestCredentials(r *http.Request, form url.Values) (id, secret string, err error) {
	_, formID := form["client_id"]
	_, formSecret := form["client_secret"]
	if auth := r.Header.Values("Authorization"); len(auth) > 0 {
		if len(auth) > 1 {
			return "", "", oauthErr(http.StatusBadRequest, "invalid_request", "more than one Authorization header")
		}
		if formID || formSecret {
			return "", "", oauthErr(http.StatusBadRequest, "invalid_request",
				"use one client authentication method: HTTP Basic or client_id/client_secret, not both")
		}
		rawID, rawSecret, ok := r.BasicAuth()
		if !ok {
			return "", "", oauthErr(http.StatusUnauthorized, "invalid_client", "use HTTP Basic client authentication")
		}
		// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic.
		id, err1 := url.QueryUnescape(rawID)
		secret, err2 := url.QueryUnescape(rawSecret)
		if err1 != nil || err2 != nil {
			return "", "", oauthErr(http.StatusUnauthorized, "invalid_client", "malformed HTTP Basic credentials")
		}
		return id, secret, nil
	}
	id, secret = form.Get("client_id"), form.Get("client_secret")
	if id == "" || secret == "" {
		return "", "", oauthErr(http.StatusUnauthorized, "invalid_client",
			"authenticate with HTTP Basic or client_id and client_secret")
	}
	return id, secret, nil
}
