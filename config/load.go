package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/aliasgate/aliasgate/internal/secretfile"
	"github.com/aliasgate/aliasgate/internal/yamlnum"
	"github.com/aliasgate/aliasgate/internal/yamltag"
)

// sources records where the values of a loaded Config came from.
type sources struct {
	// lines maps a key path (vault.volatile_ttl, outbound.passthrough[1]) to
	// its line in the file.
	lines map[string]int
	// env maps a key path to the environment variable that set it.
	env map[string]string
}

// Load reads the configuration: Default, then the YAML file at path (skipped
// when path is empty), then the ALIASGATE_* variables that getenv returns
// (an empty value means "not set"; getenv may be nil), then Validate.
//
// A file that cannot be read or is not YAML, or a regular file any user
// may write (o+w: any account of the host could set where the card data
// goes, secretfile.OthersMayWrite), gives an error naming the path.
// Otherwise every problem — unknown and duplicate keys, values of the wrong
// kind, bad environment values and everything Validate finds — is returned
// at once as a *ValidationError, with the line of each key that came from
// the file, and with it the configuration as read (what decoded, defaults
// elsewhere), only for checks that report more problems (config check reads
// the files it names); on any other error the Config is the zero value. An
// empty file is the defaults.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	cfg.src = &sources{lines: map[string]int{}, env: map[string]string{}}
	var problems []Problem
	if path != "" {
		data, fi, err := readFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: read config file: %w", err)
		}
		if fi.Mode().IsRegular() { // not a pipe: --config <(…)
			if err := secretfile.OthersMayWrite(path, fi); err != nil {
				return Config{}, fmt.Errorf("config: %w", err)
			}
		}
		p, err := decodeFile(data, &cfg)
		if err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", path, err)
		}
		problems = append(p, exposedSecrets(path, fi, cfg)...)
	}
	problems = append(problems, applyEnv(&cfg, getenv)...)
	if err := cfg.Validate(); err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return Config{}, err
		}
		problems = append(problems, ve.Problems...)
	}
	if len(problems) > 0 {
		// The configuration as read goes with its problems, for a check
		// that goes on to the files it names (config check); it must not
		// be served.
		return cfg, &ValidationError{Problems: problems}
	}
	return cfg, nil
}

// readFile reads the configuration file and returns its information, read
// from the open file.
func readFile(path string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	return data, fi, nil
}

// exposedSecrets returns a Problem for each secret the file at path (fi,
// decoded into cfg, before the environment) holds while its group or
// others may read it (internal/secretfile's rule, that of the master key
// and the other secret files): admin.token, and vault.postgres_url and
// vault.redis_url holding a password. Whoever reads the admin token can
// hand themselves any client's secret (rotate-secret). A file that is no
// regular file (a pipe: --config <(…)) is not concerned.
func exposedSecrets(path string, fi fs.FileInfo, cfg Config) []Problem {
	if !fi.Mode().IsRegular() {
		return nil
	}
	exposed := secretfile.Exposed(path, fi)
	if exposed == nil {
		return nil
	}
	var out []Problem
	for _, s := range []struct {
		key, env string
		set      bool
	}{
		{"admin.token", "ALIASGATE_ADMIN_TOKEN", cfg.Admin.Token != ""},
		{"vault.postgres_url", "ALIASGATE_VAULT_POSTGRES_URL", urlHasSecret(cfg.Vault.PostgresURL)},
		{"vault.redis_url", "ALIASGATE_VAULT_REDIS_URL", urlHasSecret(cfg.Vault.RedisURL)},
	} {
		if line, inFile := cfg.src.lines[s.key]; inFile && s.set {
			out = append(out, maskedProblem(s.key, line, fmt.Sprintf(
				"the configuration file holds this secret, and %v; or remove it from the file and set %s instead "+
					"(where the file cannot be chmod-ed: a Kubernetes or Docker secret mount)", exposed, s.env)))
		}
	}
	return out
}

// decodeFile decodes one YAML document onto cfg, which holds the defaults.
// Keys absent from the document keep their value, as does a key whose value
// is null (a null list empties the list), matching yaml.v3's Decode with
// KnownFields(true). Unlike that decoder it reports every unknown key by its
// path, with its line, and names the key of every bad value. The error is
// for text that is not YAML; everything else is a Problem.
func decodeFile(data []byte, cfg *Config) ([]Problem, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty file, or comments only
		}
		return nil, err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, fmt.Errorf("line %d: a second YAML document (---): the configuration is one document", extra.Line)
	case !errors.Is(err, io.EOF):
		return nil, err
	}
	d := decoder{lines: cfg.src.lines}
	for _, t := range yamltag.Find(&doc) { // a tag changes what a value means (internal/yamltag)
		d.add("", t.Line, "%s", t.Message())
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	switch {
	case isNull(root):
	case root.Kind == yaml.MappingNode:
		d.mapping(root, reflect.ValueOf(cfg).Elem(), "")
	default:
		d.add("", root.Line, "the configuration must be a mapping of keys (data_dir: …, listen: …), not %s", kindName(root))
	}
	return d.problems, nil
}

// decoder walks the YAML tree alongside the Config struct.
type decoder struct {
	lines    map[string]int
	problems []Problem
}

// add records a problem.
func (d *decoder) add(key string, line int, format string, args ...any) {
	d.problems = append(d.problems, maskedProblem(key, line, fmt.Sprintf(format, args...)))
}

// mapping decodes the mapping n onto the struct v, whose keys are under
// prefix.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, prefix string) {
	fields := fieldsOf(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(prefix, k.Line, "a key must be a plain name, not %s", kindName(k))
			continue
		}
		key := joinKey(prefix, k.Value)
		if k.Value == "<<" && k.Style == 0 {
			d.add(key, k.Line, "merge keys (<<) are not supported: write the keys out")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.add(key, k.Line, "duplicate key (first set on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields.index[k.Value]
		if !ok {
			msg := "unknown key"
			if s := suggest(k.Value, fields.names); s != "" {
				msg += "; did you mean " + joinKey(prefix, s) + "?"
			}
			d.add(key, k.Line, "%s", msg)
			continue
		}
		d.lines[key] = k.Line
		d.value(val, v.Field(idx), key)
	}
}

// value decodes n onto the field v at key.
func (d *decoder) value(n *yaml.Node, v reflect.Value, key string) {
	r := resolve(n)
	t := v.Type()
	switch {
	case t == nodeType:
		// Kept as written (an alias stays an alias), for the routes package.
		if !isNull(r) && r.Kind != yaml.SequenceNode {
			d.add(key, n.Line, "must be a list of routes, not %s", kindName(r))
			return
		}
		v.Set(reflect.ValueOf(*n))
	case t.Kind() == reflect.Struct:
		switch {
		case isNull(r):
		case r.Kind == yaml.MappingNode:
			d.mapping(r, v, key)
		default:
			d.add(key, n.Line, "must be a mapping of keys, not %s", kindName(r))
		}
	case t.Kind() == reflect.Slice:
		if isNull(r) {
			v.Set(reflect.Zero(t))
			return
		}
		if r.Kind != yaml.SequenceNode {
			d.add(key, n.Line, "must be %s, not %s", want(t), kindName(r))
			return
		}
		if isMappingList(t) {
			d.mappingList(r, v, key)
			return
		}
		tmp := reflect.New(t)
		if err := n.Decode(tmp.Interface()); err != nil {
			d.add(key, n.Line, "must be %s", want(t))
			return
		}
		v.Set(tmp.Elem())
		if v.Len() == len(r.Content) {
			for i, item := range r.Content {
				d.lines[key+"["+strconv.Itoa(i)+"]"] = item.Line
			}
		}
	default:
		if isNull(r) {
			return // as yaml.v3: null leaves the default in place
		}
		if r.Kind != yaml.ScalarNode {
			d.add(key, n.Line, "must be %s, not %s", want(t), kindName(r))
			return
		}
		switch t {
		case durationType:
			x, err := parseDuration(r.Value)
			if err != nil {
				d.add(key, n.Line, "%v, got %s", err, quoteValue(r.Value))
				return
			}
			v.Set(reflect.ValueOf(x))
		case byteSizeType:
			x, err := parseByteSize(r.Value)
			if err != nil {
				d.add(key, n.Line, "%v, got %s", err, quoteValue(r.Value))
				return
			}
			v.Set(reflect.ValueOf(x))
		default:
			if t.Kind() == reflect.Int && !yamlnum.Decimal(r.Value) {
				// YAML reads 010 as 8, 0x10 as 16, 1e3 as 1000: refused
				// rather than meant otherwise than written.
				d.add(key, n.Line, "must be a whole number written in decimal digits, such as 100 (not 010, 0x10, 1e3 or 1_000)")
				return
			}
			tmp := reflect.New(t)
			tmp.Elem().Set(v)
			if err := n.Decode(tmp.Interface()); err != nil {
				// The value is not quoted: it might be a secret.
				d.add(key, n.Line, "must be %s", want(t))
				return
			}
			v.Set(tmp.Elem())
		}
	}
}

// mappingList decodes the list r onto the slice of structs v: each item
// is a mapping decoded like the top level (unknown keys reported by their
// path, key[i].name, with their lines).
func (d *decoder) mappingList(r *yaml.Node, v reflect.Value, key string) {
	if len(r.Content) == 0 {
		v.Set(reflect.Zero(v.Type())) // [] is no list, as null
		return
	}
	list := reflect.MakeSlice(v.Type(), len(r.Content), len(r.Content))
	for i, item := range r.Content {
		ikey := key + "[" + strconv.Itoa(i) + "]"
		d.lines[ikey] = item.Line
		if it := resolve(item); it.Kind == yaml.MappingNode {
			d.mapping(it, list.Index(i), ikey)
		} else {
			d.add(ikey, item.Line, "must be a mapping of keys, not %s", kindName(it))
		}
	}
	v.Set(list)
}

// Types the decoder and the environment treat specially.
var (
	nodeType     = reflect.TypeFor[yaml.Node]()
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// want describes the values a field of type t accepts, or "" for a type
// that neither the file nor the environment can set.
func want(t reflect.Type) string {
	switch t {
	case durationType:
		return "a duration such as 90s, 15m or 1h30m"
	case byteSizeType:
		return "a size in bytes such as 512B, 64KiB, 10MiB or 10MB"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "a whole number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		if t.Elem().Kind() == reflect.Struct {
			return "a list of mappings"
		}
	}
	return ""
}

// structFields maps the yaml names of a struct's fields to their indexes.
type structFields struct {
	index map[string]int
	names []string
}

// fieldsOf lists the yaml keys of struct type t.
func fieldsOf(t reflect.Type) structFields {
	f := structFields{index: map[string]int{}}
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			f.index[name] = i
			f.names = append(f.names, name)
		}
	}
	return f
}

// yamlName is the key of an exported field, or "" for a field YAML skips.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// joinKey appends a key name to a dotted path.
func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// resolve follows an alias (*name) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// isNull reports whether n is empty or YAML null (~, null, nothing).
func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// kindName names the kind of a node for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "empty"
}

// suggest returns the name among names closest to s, if it is a likely typo.
func suggest(s string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, capped for
// long inputs (a key longer than 64 bytes is never a typo of a real one).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
