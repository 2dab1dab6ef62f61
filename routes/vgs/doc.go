// Package vgs converts a Very Good Security (VGS) route export into
// aliasgate's native route file (DESIGN.md "Routes"); it is what
// `aliasgate routes import-vgs FILE` runs.
//
// # Input
//
// Convert reads YAML or JSON, in each shape VGS tools write:
//
//   - the dashboard's "View YAML → Export" and vgs-cli's route dump:
//     {version: 1, data: [{id, type: rule_chain, attributes: {…}}]};
//   - flat route objects, as vgs-satellite exports them: data: [{id,
//     host_endpoint, destination_override_endpoint, entries, …}];
//   - a bare list of routes, one route object, the Vault Management API's
//     {data: {type: rule_chain, attributes}}, and vgs-cli's resource files
//     ({apiVersion: vault.vgs.io/v1, kind: HttpRoute, spec: route}, several
//     YAML documents allowed; another VGS route kind there, SftpRoute or
//     MftRoute, is reported as RouteLeftOut, other VGS kinds are not routes,
//     and a resource whose apiVersion is not VGS's, such as Kubernetes'
//     HTTPRoute, is not part of an export).
//
// A byte order mark is read first: UTF-8's is dropped and UTF-16 (with
// one) is read as UTF-8, so a JSON export an editor saved so is read as
// JSON. Input that starts like JSON and is neither JSON nor YAML is refused
// with what each parser found wrong.
//
// Keys are read as VGS writes them (snake_case), camelCase as a fallback.
// Input with none of these shapes is an error wrapping ErrNotExport; every
// other problem is an Item of the Report.
//
// # What VGS does (the model the conversion follows)
//
// The converted routes apply an entry only where VGS would (never on more
// traffic); where they apply it on less, the report says so. VGS's matching,
// as its documentation and vgs-satellite (its public route engine) show it,
// and as the differential test's model (model_test.go) writes it down:
//
//   - routes are tried in the export's order; a route is outbound when
//     destination_override_endpoint is "*", inbound otherwise (also when it
//     is missing: such a route has no upstream and cannot be converted);
//   - host_endpoint is a Java regexp matched against the whole host (host
//     names compare case-insensitively), or the whole "host:port";
//   - per phase, the first route that matches the host and has an entry of
//     that phase whose condition holds wins: all of its matching entries of
//     that phase apply, and no later route's;
//   - PathInfo is the request's path, then "?" and the query when there is
//     one (vgs-satellite reads mitmproxy's request.path); "matches" is Java's
//     String.matches, which matches the whole value;
//   - ContentType is the request's Content-Type header as sent, compared
//     byte for byte, in the response phase too; Method is compared exactly;
//   - an entry without any condition never applies.
//
// Assumptions where VGS's behaviour is not public are chosen so that the
// conversion stays on the safe side, and are listed in docs/DECISIONS.md.
//
// # Mapping
//
// Routes:
//
//	VGS                                         native
//	destination_override_endpoint: '*'          direction: outbound, host from host_endpoint
//	destination_override_endpoint: URL          direction: inbound, upstream: URL, path_prefix: /
//	  (a bare host[:port] is taken as https://, reported)
//	host_endpoint (Java regexp, whole host):
//	  api\.stripe\.com, ^api\.stripe\.com$        host: api.stripe.com
//	  (.*)\.stripe\.com, .*\. or .+\.            host: "*.stripe.com" (any labels below)
//	  (api|uploads)\.stripe\.com                 one selector per host, ids <id>-1, <id>-2 (at most 16)
//	  (.*\.)?stripe\.com                         stripe.com and *.stripe.com
//	  any other pattern: [^.]+\.x, [a-z]+\.x,     host_regex: the pattern (whole name, case-insensitive):
//	    \w+\.x, api\d\.x, .*stripe\.com, …       one label of those characters stays one label
//	  inbound: a host under verygoodproxy.com     "*" (the vault's own proxy name, e.g.
//	    or verygoodproxy.io, (.*), or empty         (.*)\.verygoodproxy\.com)
//	  host:port                                  outbound: ports: [port]; inbound: left out
//	  an unescaped '.' between labels            a literal dot (narrowed, reported); what the
//	                                             route stops (Precedence) is read as VGS reads it
//	tags.name, id                               comment line "# VGS route <id> "<name>" (…)" above the route
//	id                                          route id (characters other than [A-Za-z0-9._-] become '-',
//	                                            then a card number in it is masked, its digits 'x';
//	                                            route-<n> when missing; -2, -3 … when repeated)
//
// Precedence: aliasgate picks one route per request by host (exact, then
// host_regex, then the longest *.domain, then "*"; a route with ports
// before one without), VGS the first matching route. So every host
// selector gets one native route holding, as filter groups (filter key
// group, in VGS order), every VGS route whose host_endpoint matches all the
// hosts of that selector; of a phase, only the first group with a matching
// filter applies (routes.Route.Matching). A VGS route that matches only
// some of those hosts, or one whose entries of a phase were not all
// converted exactly (left out, narrowed), may win in VGS where aliasgate
// cannot tell: the entries of the VGS routes after it are left out there
// for that phase (narrowed, reported). So does a VGS route left out whole
// (RouteLeftOut: another type or protocol, a source_endpoint, a host
// pattern or upstream aliasgate cannot express) that has entries of a
// phase: VGS would still try it first on the hosts its host_endpoint may
// match (every host of its direction when the pattern cannot be read).
// Which hosts a route may match is read as VGS reads its host_endpoint: an
// unescaped '.', a literal dot in the route's own selectors, is any
// character there (so api.x.com stops a later route on apixx.com; every
// host of the direction when the pattern has a port).
// Inbound, a native route has one upstream: a later VGS route on the same
// hosts with another upstream is left out there (reported).
//
// A reveal target carries no format, storage or classifiers: aliasgate
// finds an alias whatever they were, and its loader refuses them on reveal
// targets. The VGS values only matter on a redact, and are dropped on an
// ENRICH without a report.
//
// Entries (one native filter each, on_error: reject: a request filter that
// cannot apply refuses before anything is sent; a response filter that
// cannot apply delivers the response, as VGS does, with its card numbers
// masked by the leak guard and the filter named in Aliasgate-Filter-Failed):
//
//	id                                          filter id (<route id>-<n> when missing)
//	phase REQUEST | RESPONSE                    phase: request | response (another phase: VGS never
//	                                            applies the entry; left out, reported)
//	operation REDACT | ENRICH                   operation: redact | reveal
//	token_manager PERSISTENT | VOLATILE         storage: persistent | volatile      (redact only)
//	public_token_generator (any but CUSTOM, JS)  format: the same name            (redact only)
//	classifiers {TAGS: [a, b]} or "a,b" or [a]   classifiers: [a, b]              (redact only; a tag
//	                                            the vault does not keep, over 64 characters, beyond
//	                                            the 32nd, not printable or holding a card number, is
//	                                            dropped, Ignored)
//	transformer_config item (one target each):
//	  JSON_PATH $.card.number                    json: card.number
//	    (also card.number and @.card.number: Jayway reads a path without
//	    a root, or from @, as one from $ on the body)
//	  JSON_PATH $.items[*].pan, $['a'][0]        json: items.#.pan, a.0 (also a member named 0 of an
//	                                            object a, which VGS's [0] never is: not reported,
//	                                            see below; a [*] that meets an object is refused,
//	                                            see below)
//	  JSON_PATH $.pans[*] (ends with [*])        json: pans.#(%"*")# (every element; one that is
//	                                            not a string is refused, 422)
//	  JSON_PATH $['card.number'], $['$ref']      json: card\.number, \$ref (special characters escaped)
//	  JSON_PATH $['c\u0061rd'], $["it\'s"]       json: card, it's (a quoted key's escapes read as
//	                                            JSONPath's: Jayway, RFC 9535; another escape is
//	                                            refused)
//	  JSON_PATH $.cards.0, $['0']                json: cards.\0, \0 (a member named by digits, never an
//	                                            array element: a plain native 0 is also the element)
//	  JSON_PATH $.p[?(@.type=='card')].number    json: p.#(type=="card")#.number (jsonpath_filter.go)
//	  FORM_FIELD card_number                     form: card_number
//	  XPATH /a/b, /a/b/text(), /s:a/s:b          xml: /a/b, /s:a/s:b with namespaces: true (names
//	                                            read as XPath reads them: an unprefixed step is an
//	                                            element in no namespace, s:a an element a in the
//	                                            namespace the document's root binds s to, whatever
//	                                            prefix the document writes)
//	  REGEX (transformer_config_map.patterns,    regex: pattern (see below)
//	    else transformer_config)
//	targets [body]                              body targets; missing targets mean body
//	targets [header] with REGEX "Name: (.*)"    header: Name
//
// VGS's REGEX replaces the whole match by its alias, or, when the pattern
// has a group named token, by prefix + alias(token) + suffix (groups named
// prefix and suffix; this is vgs-satellite's implementation). A native regex
// target replaces the whole match, or group 1. So a pattern without groups is
// kept as written; groups are made non-capturing when there is no token
// group; with a token group, the match must be [prefix] token [suffix] plus
// zero-width assertions, and prefix/suffix become non-capturing. A
// replacement with text around %s ("pan=%s") is kept when the pattern is
// that same literal text around the token group (pan=(?<token>\d+)).
// Java's \s is [\t\n\x0B\f\r ], RE2's lacks \x0B: a body pattern's \s and \S
// are written as Java's classes.
// Java's '.' stops at every line terminator (\n, \r, U+0085, U+2028,
// U+2029), RE2's at \n only: outside (?s), a body pattern's '.' is written
// as that class ([^\n\r\x85\x{2028}\x{2029}]), so "PAN: (?<token>.+)"
// stops before a CRLF line end as VGS does. Java's '$' also matches before
// a line terminator that ends the input ((?m): before any line terminator),
// RE2's only at the end ((?m): before \n); RE2 has no lookahead, so a '$'
// that ends a body pattern is written as the line terminator (optional,
// then \z; (?m): a terminator or \z), matched outside the group the
// target replaces (the pattern's token group, else a group around the
// rest); a '$' elsewhere, or after what may end in \r, is not expressed.
// Java's (?m)^ also matches after a lone \r, U+0085, U+2028 or U+2029,
// RE2's after \n only, and RE2 has no lookbehind: such a pattern is kept and
// reported as narrowed. On
// headers, a pattern must read "Name:" [spaces] then .*, .+ or [^\r\n]* (the
// token group or ungrouped): a native header target replaces the whole value.
//
// Conditions (entry config: {condition: AND|OR, rules: [{expression: {field,
// operator, values}} | nested group]}; values a list or one value). Every
// path condition becomes match.path_info, an RE2 pattern the whole request
// target (path, and ?query when there is one) must match:
//
//	PathInfo equals /x | in                     path_info: /x (quoted; "/charge?version=2" keeps its query)
//	PathInfo begins_with /x                     path_info: /x(?s:.*)
//	PathInfo ends_with .x                       path_info: (?s:.*)\.x
//	PathInfo matches P                          path_info: (?:P) (checked for RE2; whole, as Java's matches)
//	PathInfo is_not_empty | is_empty            nothing (a path is never empty) | never matches
//	ContentType equals | in                     match.request_content_type: the values as written (the
//	                                            request's header, byte for byte, in both phases)
//	Method | HttpMethod equals | in             match.methods: the upper-case values (compared exactly);
//	                                            another spelling ("post") is dropped, narrowed
//	Status equals | in | does_not_equal |       match.status: the codes in 100–599 that satisfy it
//	  less_than[_or_equals] | greater_than[_or_equal]
//	AND                                         all of them; the same field twice intersects (methods,
//	                                            content types, status); two paths: a list of equals
//	                                            filtered by the other condition, else not expressed
//	OR within one field                         alternatives joined with |, lists united
//	OR of groups alike but in one field         one match, that field's values united
//	OR of groups no two of which can hold       one filter per group (ids <id>-1, <id>-2, …)
//	  at once (their AND never matches)
//	no condition, or one nothing satisfies      entry left out (VGS never applies it)
//
// # What is reported, and what happens to it
//
// The report and the output's comments quote the export (ids, names,
// condition values) on one line with its card numbers masked
// (pan.MaskLoose, as the CLI quotes any file, and pan.MaskShown: groups
// apart by '/' or any other character, as a reader sees them).
//
// Nothing is dropped silently, and nothing is broadened: an entry whose
// condition, operation, phase, storage, format or transformer cannot be
// expressed is left out whole (Effect EntryLeftOut) rather than emitted with
// a wider match; a condition value or host that cannot be said exactly is
// dropped (Narrowed), so the filter matches less. Inexpressible:
//
//   - conditions on other fields (Header, QueryString, filePath, …); negated
//     operators (does_not_equal, does_not_begin_with, …) except on Status;
//     operators other than equals/in on ContentType and Method; OR across
//     different fields, or over AND groups that differ in more than one
//     field and may hold together, or nested in an AND; two path conditions
//     neither of which is an equals list;
//   - an ENRICH on an inbound REQUEST: aliasgate reveals only on the way out
//     (outbound routes, inbound responses), never into the merchant's app;
//   - JSONPath recursive descent (..), filters [?(…)] other than a member
//     (@.a.b) or the element (@) compared with a string, number or boolean
//     literal by ==, <, <=, >, >= (booleans: == only) or a member's
//     existence (!= is not: it also selects elements without the member),
//     a filter ending the path that selects whole objects, scripts, slices,
//     unions, negative indexes, .* object wildcards, empty keys, control
//     characters;
//   - XPath with //, predicates, attributes, wildcards, functions, axes,
//     relative paths; a path that names the element of another target of the
//     entry, or one inside it (one filter cannot target both: the later one
//     is left out);
//   - Java-only regexps (lookaround, atomic groups, possessive quantifiers,
//     backreferences, \h \R \X \G \Z \e \u, class unions and intersections)
//     and those RE2 reads differently (\v, \0 octal, the flag (?U): Unicode
//     classes in Java, lazy quantifiers in RE2); in a body pattern, a '$'
//     that does not end it, and (?i) with letters outside ASCII (Java's
//     (?i) folds ASCII only; ASCII letters are written as Java folds them); REGEX replacements
//     other than %s or literal text around it; a token group with other text
//     around it; a header regex that does not name its header or takes part
//     of a value; charsets other than UTF-8, US-ASCII or ISO-8859-1 with
//     ASCII patterns; patterns that match the empty string;
//   - on a redact, the formats VGS defines outside the route (CUSTOM, JS);
//   - reveals limited by classifiers INCLUDE/EXCLUDE; custom operations
//     (operations, operations_v2: Larky code); id_selector; transformers other
//     than JSON_PATH, FORM_FIELD, XPATH and REGEX; header targets with
//     JSON_PATH, FORM_FIELD or XPATH;
//   - routes (RouteLeftOut) of another type or protocol (sftp), host patterns
//     that are not hosts (a path, or a regexp with a port), outbound routes to
//     every host, inbound hosts with a port, upstreams that are not http(s)
//     URLs, routes without destination_override_endpoint (inbound without an
//     upstream), a source_endpoint other than "*" (the route would apply to
//     every client);
//   - on a host selector, the routes after a VGS route that may win there
//     where aliasgate cannot tell, including a route left out whole (see
//     Precedence), and a second inbound upstream (Narrowed).
//
// A field of an entry that cannot be expressed while the entry's others can
// is left out of the filter (TargetLeftOut): the filter still matches
// exactly when VGS would apply the entry. Settings that do not change what
// is matched or protected (INCLUDE on a redact, unknown classifier keys, an
// upstream without scheme taken as https, a transformer_config_map setting
// the conversion does not read, such as the dashboard's tokenDecorator,
// which reshapes a redact's aliases) are Ignored and reported. The
// output starts with a comment listing every report line, and `aliasgate
// routes import-vgs` exits 1 when there is any.
//
// Known differences not reported: an array index ($.a[0]) becomes a native
// index component (a.0), which gjson, and so the native locator, also reads
// as the member "0" of an object: the filter applies to the same requests
// as VGS's entry, at that one more place in their bodies (no native path
// indexes arrays only). A redact there protects more; a reveal there gives
// the sender of the body (the merchant's backend, or the upstream app on a
// response) nothing it could not have by writing [ … ] instead of {"0": …}.
// VGS's [*] (Jayway's wildcard) also selects the members of an object; a
// native '#' (or query) that meets an object with members refuses the
// message (422, invalid_target) where VGS aliases those members: refused,
// never forwarded unlocated.
// aliasgate matches the canonical path
// (routes.CanonicalPath: merged slashes, "." and ".." resolved, ";"
// parameters dropped), which is also what it forwards; a condition value
// that is not canonical is reported as narrowed. On a route that redacts
// request bodies, aliasgate refuses a body no filter matched (422) where
// VGS forwards it unchanged (routes unmatched_body).
package vgs
