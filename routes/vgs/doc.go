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
//     YAML documents allowed).
//
// Keys are read as VGS writes them (snake_case), camelCase as a fallback.
// Input with none of these shapes is an error wrapping ErrNotExport; every
// other problem is an Item of the Report.
//
// # Mapping
//
// Routes:
//
//	VGS                                         native
//	destination_override_endpoint: '*'          direction: outbound, host from host_endpoint
//	  (or no destination_override_endpoint)
//	destination_override_endpoint: URL          direction: inbound, upstream: URL, path_prefix: /
//	  (a bare host[:port] is taken as https://, reported)
//	host_endpoint (Java regexp, whole host):
//	  api\.stripe\.com, ^api\.stripe\.com$        api.stripe.com
//	  (.*)\.stripe\.com; also .*\. (.+)\. [^.]+\.  *.stripe.com (outbound only)
//	  (api|uploads)\.stripe\.com                 one route per host, ids <id>-1, <id>-2 (at most 16)
//	  (.*\.)?stripe\.com                         stripe.com and *.stripe.com
//	  inbound: a host under verygoodproxy.com     "*" (the vault's own proxy name, e.g.
//	    or verygoodproxy.io, (.*), or empty         (.*)\.verygoodproxy\.com)
//	  host:port                                  host; the port restriction is reported
//	  an unescaped '.' between labels            a literal dot
//	tags.name, id                               comment line "# VGS route <id> "<name>" (…)" above the route
//	id                                          route id (characters other than [A-Za-z0-9._-] become '-';
//	                                            route-<n> when missing; -2, -3 … when repeated)
//
// Routes that land on the same direction, host and upstream are merged into
// one native route (one comment line per VGS route); filter ids stay unique.
//
// A reveal target carries no format, storage or classifiers: aliasgate
// finds an alias whatever they were, and its loader refuses them on reveal
// targets. The VGS values only matter on a redact, and are dropped on an
// ENRICH without a report.
//
// Entries (one native filter each, on_error: reject):
//
//	id                                          filter id (<route id>-<n> when missing)
//	phase REQUEST | RESPONSE                    phase: request | response
//	operation REDACT | ENRICH                   operation: redact | reveal
//	token_manager PERSISTENT | VOLATILE         storage: persistent | volatile      (redact only)
//	public_token_generator UUID, RAW_UUID,      format: the same name            (redact only)
//	  FPE_SIX_T_FOUR, FPE_T_FOUR, PFPT,
//	  NUM_LENGTH_PRESERVING, GENERIC_T_FOUR
//	classifiers {TAGS: [a, b]} or "a,b" or [a]   classifiers: [a, b]              (redact only)
//	transformer_config item (one target each):
//	  JSON_PATH $.card.number                    json: card.number
//	  JSON_PATH $.items[*].pan, $['a'][0]        json: items.#.pan, a.0
//	  JSON_PATH $['card.number'], $['$ref']      json: card\.number, \$ref (special characters escaped)
//	  JSON_PATH $.p[?(@.type=='card')].number    json: p.#(type=="card")#.number (jsonpath_filter.go)
//	  FORM_FIELD card_number                     form: card_number
//	  XPATH /a/b, /a/b/text(), /s:a/s:b          xml: /a/b, /s:a/s:b
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
// zero-width assertions, and prefix/suffix become non-capturing. On headers,
// a pattern must read "Name:" [spaces] then .*, .+ or [^\r\n]* (the token
// group or ungrouped): a native header target replaces the whole value.
//
// Conditions (entry config: {condition: AND|OR, rules: [{expression: {field,
// operator, values}} | nested group]}; values a list or one value):
//
//	PathInfo equals /x | in                     match.path ^/x$
//	PathInfo begins_with /x                     match.path ^/x
//	PathInfo ends_with .x                       match.path \.x$
//	PathInfo matches P                          match.path P (checked for RE2; applied as a search)
//	PathInfo is_not_empty                       nothing (a path is never empty)
//	ContentType equals | media_type_equals      match.content_type: json, form, multipart, xml for
//	                                            application/json, application/x-www-form-urlencoded,
//	                                            multipart/form-data, application/xml; else the media
//	                                            type, lower-cased, without parameters
//	Method | HttpMethod equals | in             match.methods (upper-cased letters only)
//	Status equals | in | does_not_equal |       match.status: the codes in 100–599 that satisfy it
//	  less_than[_or_equals] | greater_than[_or_equal]
//	AND                                         all of them; the same field twice intersects
//	                                            (methods, status) or must agree (path, content type)
//	OR within one field                         paths joined with |, methods and status united
//
// # What is reported, and what happens to it
//
// Nothing is dropped silently, and nothing is broadened: an entry whose
// condition, operation, phase, storage, format or transformer cannot be
// expressed is left out whole (Effect EntryLeftOut) rather than emitted with
// a wider match. Inexpressible:
//
//   - conditions on other fields (Header, QueryString, filePath, …); negated
//     operators (does_not_equal, does_not_begin_with, …) except on Status;
//     OR across different fields or over AND groups; two different paths
//     ANDed; several content types; is_empty; Status on a request entry;
//     conditions that never match;
//   - an ENRICH on an inbound REQUEST: aliasgate reveals only on the way out
//     (outbound routes, inbound responses), never into the merchant's app;
//   - JSONPath recursive descent (..), filters [?(…)] other than a member
//     (@.a.b) or the element (@) compared with a string, number or boolean
//     literal by ==, <, <=, >, >= (booleans: == only) or a member's
//     existence (!= is not: it also selects elements without the member),
//     a filter ending the path that selects whole objects, scripts, slices,
//     unions, negative indexes, .* object wildcards, a trailing [*] (a gjson
//     path ending in # is the array length), empty keys, control characters;
//   - XPath with //, predicates, attributes, wildcards, functions, axes,
//     relative paths; a path that names the element of another target of the
//     entry, or one inside it (one filter cannot target both: the later one
//     is left out);
//   - Java-only regexps (lookaround, atomic groups, possessive quantifiers,
//     backreferences, \h \R \X \G \Z \e \u, class unions and intersections)
//     and those RE2 reads differently (\v, \0 octal); REGEX replacements
//     other than %s; a token group with other text around it; a header regex
//     that does not name its header or takes part of a value; charsets other
//     than UTF-8, US-ASCII or ISO-8859-1 with ASCII patterns; patterns that
//     match the empty string;
//   - on a redact, formats VGS has and aliasgate does not
//     (NON_LUHN_FPE_ALPHANUMERIC, FPE_SSN_T_FOUR, FPE_ACC_NUM_T_FOUR, …);
//   - reveals limited by classifiers INCLUDE/EXCLUDE; custom operations
//     (operations, operations_v2: Larky code); id_selector; transformers other
//     than JSON_PATH, FORM_FIELD, XPATH and REGEX; header targets with
//     JSON_PATH, FORM_FIELD or XPATH;
//   - routes (RouteLeftOut) of another type or protocol (sftp), host patterns
//     that are not hosts, outbound routes to every host, inbound wildcard
//     hosts, upstreams that are not http(s) URLs, and a second inbound upstream
//     for a host already routed (aliasgate picks inbound routes by host and
//     path prefix, VGS by filter).
//
// A field of an entry that cannot be expressed while the entry's others can
// is left out of the filter (TargetLeftOut). Settings with no native
// equivalent that do not change what is matched or protected (a port in
// host_endpoint, source_endpoint, INCLUDE on a redact, unknown classifier
// keys) are Ignored and reported. The output starts with a comment listing
// every report line.
//
// Known differences not reported: VGS's ContentType "equals" compares the
// whole header while the native match compares media types (parameters such
// as charset are ignored); native paths are matched without the query
// string; a PathInfo "matches" pattern is a search in aliasgate (Java's
// matches() anchors both ends, so aliasgate may match more paths, never
// fewer).
package vgs
