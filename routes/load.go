package routes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/aliasgate/aliasgate/internal/account"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/internal/regfile"
	"github.com/aliasgate/aliasgate/internal/secretfile"
	"github.com/aliasgate/aliasgate/internal/yamlnum"
	"github.com/aliasgate/aliasgate/internal/yamltag"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// Problem is one thing wrong with a route file.
type Problem struct {
	File    string
	Line    int
	Message string
}

func (p Problem) String() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Message)
	case p.File != "":
		return p.File + ": " + p.Message
	}
	return p.Message
}

// LoadError lists every problem of a route set that did not load.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "routes: %d problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Options tunes loading.
type Options struct {
	// CheckFormat validates an alias format name (the vault's formats); nil
	// accepts any name.
	CheckFormat func(string) error
	// CheckClassifiers validates a redact target's classifiers (the
	// vault's rule, whose error holds none of them); nil accepts any.
	CheckClassifiers func([]string) error
}

// ErrNotRegularFile is wrapped by ReadFile's error for a routes file that
// is not a regular file (a FIFO, a device, a directory).
var ErrNotRegularFile = regfile.ErrNotRegular

// maxFileSize bounds a routes file ReadFile reads.
const maxFileSize = 16 << 20

// ReadFile reads the routes file at path for the gateway (its start, its
// reloads, the inspector): only a regular file of at most 16 MiB is read.
// A FIFO or a device would block the read for good (or feed it without
// end), holding whatever lock the reader holds: it is refused at once
// (ErrNotRegularFile). So is a file any user may write (o+w,
// secretfile.OthersMayWrite): any account on the host could send the
// card data elsewhere. A missing file's error wraps fs.ErrNotExist.
// LoadFile, for the CLI's routes commands, reads any file (routes
// validate /dev/stdin).
func ReadFile(path string) ([]byte, error) {
	f, err := openServed(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := regfile.ReadOpen(f, path, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	return b, nil
}

// openServed opens the routes file the gateway serves, as ReadFile reads
// it: a regular file that not every user may write. The mode checked is
// the open file's (a link's target's).
func openServed(path string) (*os.File, error) {
	f, fi, err := regfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	if err := secretfile.OthersMayWrite(path, fi); err != nil {
		f.Close()
		return nil, fmt.Errorf("routes: %w", err)
	}
	return f, nil
}

// LoadFile reads and parses a route file.
func LoadFile(path string, opts Options) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	return Parse(b, path, opts)
}

// Parse parses a route document: a mapping with a `routes:` list, or the
// list itself. file names the source in problems. An empty document (no
// bytes, blanks or comments only) is an empty set; a second document (---)
// is refused: its routes would not be in force.
func Parse(data []byte, file string, opts Options) (*Set, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &Set{}, nil
		}
		return nil, &LoadError{Problems: []Problem{{File: file, Message: "not valid YAML: " + yamlMessage(err)}}}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &LoadError{Problems: []Problem{{File: file, Line: extra.Line,
			Message: "a second YAML document (---): a routes file is one document (its routes would not be in force)"}}}
	case !errors.Is(err, io.EOF):
		return nil, &LoadError{Problems: []Problem{{File: file, Message: "not valid YAML: " + yamlMessage(err)}}}
	}
	if tagged := yamltag.Find(&doc); len(tagged) > 0 { // a tag changes what a value means (internal/yamltag)
		ps := make([]Problem, len(tagged))
		for i, t := range tagged {
			ps[i] = Problem{File: file, Line: t.Line, Message: pan.MaskLoose(t.Message())}
		}
		return nil, &LoadError{Problems: ps}
	}
	return parseDocument(&doc, file, opts)
}

// Empty reports whether data holds no list of routes: no YAML document
// (no bytes, blanks or comments only), a null one, or a mapping whose
// routes key is absent or null (a file cut after its first line,
// "routes:"). Parse reads each as an empty set; where routes are being
// replaced (a reload, an apply) it is more likely a file half written or a
// slip than a wish to remove every route, which `routes: []` says.
func Empty(data []byte) bool {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return errors.Is(err, io.EOF)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	switch root.Kind {
	case yaml.ScalarNode:
		return root.Tag == "!!null"
	case yaml.MappingNode:
		n := mapGet(root, "routes")
		return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
	}
	return root.Kind == 0
}

// parseDocument parses the one document of a routes file.
func parseDocument(doc *yaml.Node, file string, opts Options) (*Set, error) {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	l := &loader{file: file, opts: opts}
	switch root.Kind {
	case yaml.MappingNode:
		l.keys(root, "routes")
		if n := mapGet(root, "routes"); n != nil {
			root = n
		} else {
			return &Set{}, l.err()
		}
	case yaml.SequenceNode:
	case yaml.ScalarNode:
		if root.Tag == "!!null" {
			return &Set{}, nil
		}
		l.add(root, "want a list of routes or a mapping with a routes: list")
		return nil, l.err()
	}
	set := l.routes(root)
	if err := l.err(); err != nil {
		return nil, err
	}
	return set, nil
}

// FromNode parses an inline `routes:` list (as kept by the config package).
func FromNode(n *yaml.Node, file string, opts Options) (*Set, error) {
	if n == nil || n.Kind == 0 {
		return &Set{}, nil
	}
	l := &loader{file: file, opts: opts}
	set := l.routes(n)
	if err := l.err(); err != nil {
		return nil, err
	}
	return set, nil
}

// yamlMessage is a YAML error for a Problem, card numbers masked (a
// decoding error quotes the value).
func yamlMessage(err error) string {
	return pan.MaskLoose(strings.TrimPrefix(err.Error(), "yaml: "))
}

type loader struct {
	file     string
	opts     Options
	problems []Problem
}

func (l *loader) add(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	// A value quoted back may be a card number pasted into the wrong
	// place: it is masked, as in the logs.
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Message: pan.MaskLoose(fmt.Sprintf(format, args...))})
}

func (l *loader) err() error {
	if len(l.problems) == 0 {
		return nil
	}
	slices.SortStableFunc(l.problems, func(a, b Problem) int { return a.Line - b.Line })
	return &LoadError{Problems: l.problems}
}

// keys reports keys of the mapping n that are not in allowed, and
// duplicate keys.
func (l *loader) keys(n *yaml.Node, allowed ...string) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if seen[k] {
			l.add(n.Content[i], "duplicate key %q", k)
		}
		seen[k] = true
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			l.add(n.Content[i], "unknown key %q (allowed: %s)", k, strings.Join(allowed, ", "))
		}
	}
}

func mapGet(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// str reads a scalar string member ("" when absent).
func (l *loader) str(n *yaml.Node, key string) (string, *yaml.Node) {
	v := mapGet(n, key)
	if v == nil {
		return "", nil
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		if v.Tag != "!!null" {
			l.add(v, "%s: want a string", key)
		}
		return "", v
	}
	return v.Value, v
}

func (l *loader) routes(n *yaml.Node) *Set {
	if n.Kind != yaml.SequenceNode {
		if n.Tag == "!!null" {
			return &Set{}
		}
		l.add(n, "routes: want a list")
		return &Set{}
	}
	set := &Set{}
	ids := map[string]int{}
	for _, rn := range n.Content {
		r := l.route(rn)
		if r == nil {
			continue
		}
		if r.ID != "" {
			if prev, dup := ids[r.ID]; dup {
				l.add(rn, "route id %q is already used by the route at line %d", r.ID, prev)
			}
			ids[r.ID] = rn.Line
		}
		set.Routes = append(set.Routes, r)
	}
	return set
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// badID returns what is wrong with a route id, filter id or group (what
// names it in messages, logs and metric labels), or "".
func badID(id string) string {
	switch {
	case !idPattern.MatchString(id):
		return "use letters, digits and _ . : - (at most 128)"
	case pan.ContainsLooseString(id): // 4111_1111_1111_1111 too
		// Ids are metric labels and log fields: never card data.
		return "holds a card number; name it after what it does"
	}
	return ""
}

func (l *loader) route(n *yaml.Node) *Route {
	if n.Kind != yaml.MappingNode {
		l.add(n, "a route must be a mapping")
		return nil
	}
	l.keys(n, "id", "direction", "host", "host_regex", "ports", "path_prefix", "upstream", "leak_guard", "unmatched_body", "account", "accounts", "forward_reserved", "unsafe_reveal_over_plain_http", "filters")
	r := &Route{Line: n.Line}
	var vn *yaml.Node
	r.ID, vn = l.str(n, "id")
	switch {
	case r.ID == "":
		l.add(n, "route: id is required")
	case badID(r.ID) != "":
		l.add(vn, "route id %q: %s", r.ID, badID(r.ID))
	}
	dir, vn := l.str(n, "direction")
	switch Direction(dir) {
	case Inbound, Outbound:
		r.Direction = Direction(dir)
	case "":
		l.add(n, "route %s: direction is required (inbound or outbound)", r.ID)
	default:
		l.add(vn, "route %s: direction %q: want inbound or outbound", r.ID, dir)
	}
	host, vn := l.str(n, "host")
	r.Host = NormalizePattern(strings.ToLower(host))
	if hr, hn := l.str(n, "host_regex"); hn != nil {
		l.hostRegex(r, host, hr, hn)
	} else if msg := checkHostPattern(r.Host); msg != "" {
		if vn == nil {
			vn = n
		}
		l.add(vn, "route %s: host %s", r.ID, msg)
	}
	if r.Direction == Outbound && r.Host == "*" && r.HostRegex == nil {
		if vn == nil {
			vn = n
		}
		l.add(vn, `route %s: an outbound route cannot have host "*": it would put card data on the wire to any destination a client names; give the processor's host (or *.suffix, host_regex)`, r.ID)
	}
	if pn := mapGet(n, "ports"); pn != nil {
		l.ports(r, pn)
	}
	r.PathPrefix, vn = l.str(n, "path_prefix")
	if r.PathPrefix == "" {
		r.PathPrefix = "/"
	} else if !strings.HasPrefix(r.PathPrefix, "/") {
		l.add(vn, "route %s: path_prefix must start with /", r.ID)
	}
	r.Upstream, vn = l.str(n, "upstream")
	switch {
	case r.Direction == Inbound && r.Upstream == "":
		l.add(n, "route %s: an inbound route needs an upstream (a URL, %s or %s)", r.ID, UpstreamCards, UpstreamAliases)
	case r.Direction == Outbound && r.Upstream != "":
		l.add(vn, "route %s: an outbound route has no upstream (requests go to the host they were sent to)", r.ID)
	case r.Upstream == UpstreamCards || r.Upstream == UpstreamAliases || r.Upstream == "":
	default:
		u, err := url.Parse(r.Upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			l.add(vn, "route %s: upstream must be an http(s) URL without credentials, %s or %s", r.ID, UpstreamCards, UpstreamAliases)
		} else {
			r.UpstreamURL = u
		}
	}
	l.forwardReserved(n, r)
	if pn := mapGet(n, "unsafe_reveal_over_plain_http"); pn != nil {
		switch {
		case r.Direction != Outbound:
			l.add(pn, "route %s: unsafe_reveal_over_plain_http is for outbound routes", r.ID)
		case pn.Kind != yaml.ScalarNode || pn.Tag != "!!bool":
			l.add(pn, "route %s: unsafe_reveal_over_plain_http: want true or false", r.ID)
		default:
			r.UnsafeRevealOverPlainHTTP = pn.Value == "true"
		}
	}
	lg, lgn := l.str(n, "leak_guard")
	switch LeakGuard(lg) {
	case "":
		r.LeakGuard = LeakLog // outbound routes that reveal: LeakRedact, once the filters are read
	case LeakOff, LeakLog, LeakBlock, LeakRedact:
		r.LeakGuard = LeakGuard(lg)
	default:
		l.add(lgn, "route %s: leak_guard %q: want off, log, redact or block", r.ID, lg)
	}
	ub, vn := l.str(n, "unmatched_body")
	switch ub {
	case "", "reject":
		r.UnmatchedBody = Reject
	case "pass":
		r.UnmatchedBody = Pass
	default:
		l.add(vn, "route %s: unmatched_body %q: want reject or pass", r.ID, ub)
	}
	l.accounts(n, r)
	fn := mapGet(n, "filters")
	if fn == nil {
		return r
	}
	if fn.Kind == yaml.ScalarNode && fn.Tag == "!!null" {
		// A file cut after "filters:", or a list commented out: taken as
		// no filters, card data would reach the upstream as it came.
		l.add(fn, "route %s: filters has no value; leave the key out, or write filters: [], for a route without filters", r.ID)
		return r
	}
	if fn.Kind != yaml.SequenceNode {
		l.add(fn, "route %s: filters: want a list", r.ID)
		return r
	}
	ids := map[string]int{}
	grouped := 0
	for i, f := range fn.Content {
		flt := l.filter(r, i, f)
		if flt == nil {
			continue
		}
		if prev, dup := ids[flt.ID]; dup {
			l.add(f, "route %s: filter id %q is already used at line %d", r.ID, flt.ID, prev)
		}
		ids[flt.ID] = f.Line
		if flt.Group != "" {
			grouped++
		}
		r.Filters = append(r.Filters, flt)
		if lg == "" && flt.Operation == rewrite.NetworkToken {
			// The processor's answer must not bring the token PAN (or the
			// fallback PAN) back to the merchant.
			r.LeakGuard = LeakBlock
		}
	}
	if grouped > 0 && grouped < len(r.Filters) {
		l.add(fn, "route %s: either every filter has a group or none does (%d of %d have one)", r.ID, grouped, len(r.Filters))
	}
	if lg == "" && r.Direction == Outbound && r.hasRequestOp(rewrite.Reveal) {
		// Not on a route whose only card data comes from network_token
		// filters: that one blocks (above).
		r.LeakGuard = LeakRedact
	}
	return r
}

// forwardReserved reads forward_reserved (inbound routes only; entries
// from ReservedPaths) and refuses a path_prefix below a reserved path the
// route does not take: it would never match.
func (l *loader) forwardReserved(n *yaml.Node, r *Route) {
	if fn := mapGet(n, "forward_reserved"); fn != nil {
		switch {
		case r.Direction != Inbound:
			l.add(fn, "route %s: forward_reserved is for inbound routes", r.ID)
		case fn.Kind != yaml.SequenceNode:
			l.add(fn, "route %s: forward_reserved: want a list of the gateway's paths (%s)", r.ID, strings.Join(ReservedPaths(), ", "))
		default:
			for _, e := range fn.Content {
				if e.Kind != yaml.ScalarNode || !slices.Contains(ReservedPaths(), e.Value) {
					l.add(e, "route %s: forward_reserved: %q is not one of the gateway's paths (%s)", r.ID, e.Value, strings.Join(ReservedPaths(), ", "))
					continue
				}
				r.ForwardReserved = append(r.ForwardReserved, e.Value)
			}
		}
	}
	if p := ReservedPath(r.PathPrefix); r.Direction == Inbound && p != "" && !r.TakesReserved(p) {
		l.add(n, "route %s: path_prefix %s lies under the gateway's own %s: the route would never match; "+
			"list %s in forward_reserved to send those requests to the upstream instead of the gateway", r.ID, r.PathPrefix, p, p)
	}
}

// accounts reads the route's account (inbound) or accounts (outbound).
func (l *loader) accounts(n *yaml.Node, r *Route) {
	acct, vn := l.str(n, "account")
	if acct != "" {
		if r.Direction == Outbound {
			l.add(vn, "route %s: account is for inbound routes; an outbound route acts for each proxy client's account (narrow it with accounts)", r.ID)
		} else if err := account.Check(acct); err != nil {
			l.add(vn, "route %s: account: %v", r.ID, err)
		}
		r.Account = acct
	}
	an := mapGet(n, "accounts")
	if an == nil || an.Tag == "!!null" {
		return
	}
	if r.Direction == Inbound {
		l.add(an, "route %s: accounts is for outbound routes; an inbound route acts for one account (account)", r.ID)
		return
	}
	var list []string
	if err := an.Decode(&list); err != nil || len(list) == 0 {
		l.add(an, "route %s: accounts: want a non-empty list of account names", r.ID)
		return
	}
	for _, a := range list {
		if err := account.Check(a); err != nil {
			l.add(an, "route %s: accounts: %v", r.ID, err)
		}
	}
	r.Accounts = list
}

// hostRegex reads a route's host_regex: an RE2 pattern the whole host must
// match, case-insensitively; not together with host.
func (l *loader) hostRegex(r *Route, host, pattern string, n *yaml.Node) {
	switch {
	case host != "":
		l.add(n, "route %s: give host or host_regex, not both", r.ID)
		return
	case pattern == "":
		l.add(n, "route %s: host_regex is empty", r.ID)
		return
	}
	re, err := regexp.Compile(`(?i)^(?:` + pattern + `)$`)
	if err != nil {
		l.add(n, "route %s: host_regex: bad regular expression: %s", r.ID, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return
	}
	if re.MatchString("") {
		l.add(n, "route %s: host_regex %q matches the empty host", r.ID, pattern)
	}
	r.HostRegex = re
}

// wholeNumbers reports whether the items of the list n that are numbers
// are written in decimal digits (yamlnum.Decimal), adding a problem for
// each one that is not: YAML would read 0404 as 260, 443.9 as 443. Other
// shapes are left to the caller's decoding.
func (l *loader) wholeNumbers(n *yaml.Node, what string) bool {
	if n.Kind != yaml.SequenceNode {
		return true
	}
	ok := true
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode || item.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 ||
			(item.Tag != "!!int" && item.Tag != "!!float") || yamlnum.Decimal(item.Value) {
			continue
		}
		l.add(item, "%s: %s must be a whole number written in decimal digits, such as 443 (not 0443, 0x1BB, 4.43e2, 443.0 or 4_43)", what, item.Value)
		ok = false
	}
	return ok
}

// ports reads a route's ports: a list of TCP ports, outbound routes only.
func (l *loader) ports(r *Route, n *yaml.Node) {
	if !l.wholeNumbers(n, "route "+r.ID+": ports") {
		return
	}
	if err := n.Decode(&r.Ports); err != nil || len(r.Ports) == 0 {
		l.add(n, "route %s: ports: want a list of TCP ports", r.ID)
		return
	}
	for _, p := range r.Ports {
		if p < 1 || p > 65535 {
			l.add(n, "route %s: ports: %d is not a TCP port", r.ID, p)
		}
	}
	if r.Direction == Inbound {
		l.add(n, "route %s: ports are for outbound routes (an inbound route is picked by its Host, whatever port the gateway listens on)", r.ID)
	}
}

// checkHostPattern returns what is wrong with a host pattern, or "".
func checkHostPattern(h string) string {
	if h == "" {
		return "is required (a host name, *.suffix or *)"
	}
	if h == "*" {
		return ""
	}
	name := strings.TrimPrefix(h, "*.")
	if strings.ContainsAny(name, "*/:@ ?#[]") {
		return fmt.Sprintf("%q: want a host name without port or path, *.suffix or *", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Sprintf("%q is not a valid host name", h)
		}
	}
	return ""
}

func (l *loader) filter(r *Route, i int, n *yaml.Node) *Filter {
	if n.Kind != yaml.MappingNode {
		l.add(n, "route %s: a filter must be a mapping", r.ID)
		return nil
	}
	l.keys(n, "id", "group", "phase", "match", "operation", "on_error", "targets", "fallback", "transaction_type")
	f := &Filter{Line: n.Line}
	var vn *yaml.Node
	f.ID, vn = l.str(n, "id")
	if f.ID == "" {
		f.ID = fmt.Sprintf("%s-%d", r.ID, i+1)
	} else if msg := badID(f.ID); msg != "" {
		l.add(vn, "filter id %q: %s", f.ID, msg)
	}
	where := fmt.Sprintf("route %s filter %s", r.ID, f.ID)
	if g, gn := l.str(n, "group"); gn != nil {
		if msg := badID(g); msg != "" {
			l.add(gn, "%s: group %q: %s", where, g, msg)
		}
		f.Group = g
	}
	phase, vn := l.str(n, "phase")
	switch Phase(phase) {
	case "", Request:
		f.Phase = Request
	case Response:
		f.Phase = Response
	default:
		l.add(vn, "%s: phase %q: want request or response", where, phase)
	}
	op, vn := l.str(n, "operation")
	switch op {
	case "redact":
		f.Operation = rewrite.Redact
	case "reveal":
		f.Operation = rewrite.Reveal
	case "network_token":
		f.Operation = rewrite.NetworkToken
	case "":
		l.add(n, "%s: operation is required (redact, reveal or network_token)", where)
	default:
		l.add(vn, "%s: operation %q: want redact, reveal or network_token", where, op)
	}
	l.networkToken(where, r, f, n)
	if f.Operation == rewrite.Reveal && r.Direction == Inbound && f.Phase == Request {
		l.add(n, "%s: reveal on an inbound request is refused: reveal goes out (outbound routes, inbound responses), never into the merchant's app", where)
	}
	if f.Operation == rewrite.Reveal && r.Internal() {
		l.add(n, "%s: reveal in the answers of %s is refused: the API decides what its clients see in clear (--pci, aliases:reveal), and a reveal there would show card data to the clients it withholds it from", where, r.Upstream)
	}
	oe, vn := l.str(n, "on_error")
	switch OnError(oe) {
	case "", Reject:
		f.OnError = Reject
	case Pass:
		f.OnError = Pass
	default:
		l.add(vn, "%s: on_error %q: want reject or pass", where, oe)
	}
	if m := mapGet(n, "match"); m != nil && m.Tag != "!!null" {
		f.Match = l.match(where, f.Phase, m)
	}
	tn := mapGet(n, "targets")
	if tn == nil || tn.Kind != yaml.SequenceNode || len(tn.Content) == 0 {
		if tn == nil {
			tn = n
		}
		l.add(tn, "%s: targets: want a list of at least one target", where)
		return f
	}
	specs := make([]rewrite.TargetSpec, 0, len(tn.Content))
	ok := true
	for j, t := range tn.Content {
		tgt, spec, good := l.target(where, j, f.Operation, t)
		ok = ok && good
		f.Targets = append(f.Targets, tgt)
		specs = append(specs, spec)
	}
	if ok && f.Operation != 0 {
		p, err := rewrite.Compile(f.Operation, specs)
		if err != nil {
			l.add(tn, "%s: %s", where, strings.TrimPrefix(err.Error(), "rewrite: "))
		}
		f.Program = p
	}
	return f
}

var methodPattern = regexp.MustCompile(`^[A-Z]+$`)

func (l *loader) match(where string, phase Phase, n *yaml.Node) Match {
	var m Match
	if n.Kind != yaml.MappingNode {
		l.add(n, "%s: match: want a mapping", where)
		return m
	}
	l.keys(n, "methods", "path", "path_info", "content_type", "request_content_type", "status")
	if mn := mapGet(n, "methods"); mn != nil {
		var methods []string
		if err := mn.Decode(&methods); err != nil {
			l.add(mn, "%s: match.methods: want a list of HTTP methods", where)
		}
		for _, meth := range methods {
			up := strings.ToUpper(meth)
			if !methodPattern.MatchString(up) {
				l.add(mn, "%s: match.methods: %q is not an HTTP method", where, meth)
			}
			m.Methods = append(m.Methods, up)
		}
	}
	if p, vn := l.str(n, "path"); p != "" {
		re, err := regexp.Compile(p)
		if err != nil {
			l.add(vn, "%s: match.path: bad regular expression: %s", where, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		m.Path = re
		if err == nil {
			m.pathFold, _ = regexp.Compile(`(?i:` + p + `)`)
		}
	}
	if p, vn := l.str(n, "path_info"); vn != nil {
		re, err := regexp.Compile(`^(?:` + p + `)$`)
		switch {
		case p == "":
			l.add(vn, "%s: match.path_info is empty", where)
		case err != nil:
			l.add(vn, "%s: match.path_info: bad regular expression: %s", where, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		default:
			m.PathInfo = re
			m.pathInfoFold, _ = regexp.Compile(`^(?i:` + p + `)$`)
		}
	}
	if cn := mapGet(n, "request_content_type"); cn != nil {
		m.RequestContentTypes = l.requestContentTypes(where, cn)
	}
	if ct, vn := l.str(n, "content_type"); ct != "" {
		ct = strings.ToLower(ct)
		switch ct {
		case "json", "form", "multipart", "xml":
		default:
			if mt, params, err := mime.ParseMediaType(ct); err != nil || len(params) > 0 || !strings.Contains(mt, "/") {
				l.add(vn, "%s: match.content_type %q: want json, form, multipart, xml or a media type (type/subtype)", where, ct)
			} else {
				ct = mt
			}
		}
		m.ContentType = ct
	}
	if sn := mapGet(n, "status"); sn != nil {
		if !l.wholeNumbers(sn, where+": match.status") {
			// reported
		} else if err := sn.Decode(&m.Status); err != nil {
			l.add(sn, "%s: match.status: want a list of HTTP status codes", where)
		}
		for _, s := range m.Status {
			if s < 100 || s > 599 {
				l.add(sn, "%s: match.status: %d is not an HTTP status code", where, s)
			}
		}
		if phase == Request && len(m.Status) > 0 {
			l.add(sn, "%s: match.status applies to response filters only", where)
		}
	}
	return m
}

// requestContentTypes reads match.request_content_type: one header value
// or a list of them, compared byte for byte.
func (l *loader) requestContentTypes(where string, n *yaml.Node) []string {
	var vals []string
	switch n.Kind {
	case yaml.ScalarNode:
		vals = []string{n.Value}
	case yaml.SequenceNode:
		if err := n.Decode(&vals); err != nil {
			l.add(n, "%s: match.request_content_type: want a Content-Type value or a list of them", where)
			return nil
		}
	default:
		l.add(n, "%s: match.request_content_type: want a Content-Type value or a list of them", where)
		return nil
	}
	if len(vals) == 0 {
		l.add(n, "%s: match.request_content_type: want at least one value", where)
	}
	for _, v := range vals {
		if v == "" || v != strings.TrimSpace(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			l.add(n, "%s: match.request_content_type: %q is not a header value (empty, surrounding spaces or control characters)", where, v)
		}
	}
	return vals
}

var storagePattern = map[string]string{"": "", "persistent": "PERSISTENT", "volatile": "VOLATILE"}

func (l *loader) target(where string, j int, op rewrite.Operation, n *yaml.Node) (Target, rewrite.TargetSpec, bool) {
	var t Target
	t.Line = n.Line
	if n.Kind != yaml.MappingNode {
		l.add(n, "%s: target %d: want a mapping such as {json: card.number}", where, j+1)
		return t, rewrite.TargetSpec{}, false
	}
	before := len(l.problems)
	l.keys(n, "json", "form", "header", "xml", "regex", "pattern", "luhn", "namespaces", "format", "storage", "classifiers", "role")
	if err := n.Decode(&t); err != nil {
		l.add(n, "%s: target %d: %s", where, j+1, yamlMessage(err))
		return t, rewrite.TargetSpec{}, false
	}
	t.Line = n.Line
	kinds := 0
	for _, v := range []string{t.JSON, t.Form, t.Header, t.XML, t.Regex} {
		if v != "" {
			kinds++
		}
	}
	if kinds != 1 {
		l.add(n, "%s: target %d: give exactly one of json, form, header, xml, regex", where, j+1)
	}
	kind, path := t.Kind()
	if t.Pattern != "" && kind != rewrite.KindHeader {
		l.add(n, "%s: target %d: pattern goes with header targets only", where, j+1)
	}
	if t.Luhn && kind != rewrite.KindRegex {
		l.add(n, "%s: target %d: luhn goes with regex targets only", where, j+1)
	}
	if t.Namespaces && kind != rewrite.KindXML {
		l.add(n, "%s: target %d: namespaces goes with xml targets only", where, j+1)
	}
	if op != rewrite.Redact && (t.Format != "" || t.Storage != "" || len(t.Classifiers) > 0) {
		l.add(n, "%s: target %d: format, storage and classifiers are for redact targets", where, j+1)
	}
	if (op == rewrite.NetworkToken) != (t.Role != "") {
		l.add(n, "%s: target %d: role goes with network_token targets, and every network_token target has one", where, j+1)
	}
	if t.Format != "" && l.opts.CheckFormat != nil {
		if err := l.opts.CheckFormat(t.Format); err != nil {
			l.add(n, "%s: target %d: format %q is not an alias format", where, j+1, t.Format)
		}
	}
	if len(t.Classifiers) > 0 && l.opts.CheckClassifiers != nil {
		// The vault would refuse every redaction of the target.
		if err := l.opts.CheckClassifiers(t.Classifiers); err != nil {
			l.add(n, "%s: target %d: classifiers: %v", where, j+1, err)
		}
	}
	st, ok := storagePattern[strings.ToLower(t.Storage)]
	if !ok {
		l.add(n, "%s: target %d: storage %q: want persistent or volatile", where, j+1, t.Storage)
	}
	spec := rewrite.TargetSpec{Kind: kind, Path: path, HeaderPattern: t.Pattern, Luhn: t.Luhn, XMLNamespaces: t.Namespaces,
		Format: strings.ToUpper(t.Format), Storage: st, Classifiers: t.Classifiers, Role: t.Role}
	if len(l.problems) == before && kind != "" {
		// Check the target alone so its own problem gets its own line.
		alone := spec
		alone.Role = ""
		if _, err := rewrite.Compile(rewrite.Redact, []rewrite.TargetSpec{alone}); err != nil {
			l.add(n, "%s: target %d: %s", where, j+1, strings.TrimPrefix(strings.TrimPrefix(err.Error(), "rewrite: "), "target 0: "))
		}
	}
	return t, spec, len(l.problems) == before
}

// networkToken reads and checks the keys of a network_token filter
// (fallback, transaction_type): outbound request filters only.
func (l *loader) networkToken(where string, r *Route, f *Filter, n *yaml.Node) {
	fb, fn := l.str(n, "fallback")
	tt, tn := l.str(n, "transaction_type")
	if f.Operation != rewrite.NetworkToken {
		if fn != nil || tn != nil {
			l.add(n, "%s: fallback and transaction_type go with operation network_token", where)
		}
		return
	}
	if r.Direction != Outbound || f.Phase != Request {
		l.add(n, "%s: network_token works on outbound requests only (on the way to the processor)", where)
	}
	switch fb {
	case "", "none":
	case "pan":
		f.Fallback = true
	default:
		l.add(fn, "%s: fallback %q: want pan or none", where, fb)
	}
	switch tt {
	case "": // the token type's (cards settings)
	case "ecommerce", "card_on_file":
		f.TransactionType = tt
	default:
		l.add(tn, "%s: transaction_type %q: want ecommerce or card_on_file", where, tt)
	}
}
