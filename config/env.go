package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// envPrefix starts every environment variable Load reads.
const envPrefix = "ALIASGATE_"

// envBinding ties a key to its environment variable.
type envBinding struct {
	key   string       // vault.volatile_ttl
	name  string       // ALIASGATE_VAULT_VOLATILE_TTL
	index []int        // field index path in Config
	typ   reflect.Type // the field's type
}

// envBindings derives one binding per scalar or list key from the yaml tags
// of Config, in field order. The inline routes node and lists of mappings
// (webhooks.endpoints) have none.
func envBindings() []envBinding {
	var out []envBinding
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" || f.Type == nodeType || isMappingList(f.Type) {
				continue
			}
			key := joinKey(prefix, name)
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key, idx)
				continue
			}
			out = append(out, envBinding{key: key, name: envName(key), index: idx, typ: f.Type})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// isMappingList reports whether t is a list of mappings (a slice of
// structs), which the file sets and the environment does not.
func isMappingList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

// envName is the variable of a key path: ALIASGATE_ and the path upper-cased
// with dots as underscores.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// EnvVars returns, sorted, the name of every environment variable Load reads:
// one per scalar or list key (ALIASGATE_DATA_DIR, ALIASGATE_LISTEN_INBOUND,
// ALIASGATE_VAULT_VOLATILE_TTL, …). Lists are comma-separated.
func EnvVars() []string {
	b := envBindings()
	names := make([]string, len(b))
	for i, e := range b {
		names[i] = e.name
	}
	slices.Sort(names)
	return names
}

// applyEnv sets every key whose variable getenv returns non-empty and records
// it in cfg.src. A bad value is a Problem naming the variable and what it
// must be, never the value.
func applyEnv(cfg *Config, getenv func(string) string) []Problem {
	if getenv == nil {
		return nil
	}
	if cfg.src == nil {
		cfg.src = &sources{lines: map[string]int{}, env: map[string]string{}}
	}
	var problems []Problem
	root := reflect.ValueOf(cfg).Elem()
	for _, b := range envBindings() {
		s := getenv(b.name)
		if s == "" {
			continue
		}
		v, ok := parseEnv(b.typ, s)
		if !ok {
			problems = append(problems, Problem{Key: b.key, Message: "environment variable " + b.name + " must be " + want(b.typ)})
			continue
		}
		root.FieldByIndex(b.index).Set(v)
		cfg.src.env[b.key] = b.name
	}
	return problems
}

// parseEnv parses an environment value for a field of type t.
func parseEnv(t reflect.Type, s string) (reflect.Value, bool) {
	switch t {
	case durationType:
		d, err := parseDuration(s)
		return reflect.ValueOf(d), err == nil
	case byteSizeType:
		b, err := parseByteSize(s)
		return reflect.ValueOf(b), err == nil
	}
	switch t.Kind() {
	case reflect.String:
		return reflect.ValueOf(s).Convert(t), true
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		return reflect.ValueOf(b).Convert(t), err == nil
	case reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return reflect.ValueOf(n).Convert(t), err == nil
	case reflect.Slice:
		if t.Elem().Kind() != reflect.String {
			break
		}
		list := reflect.MakeSlice(t, 0, strings.Count(s, ",")+1)
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = reflect.Append(list, reflect.ValueOf(item).Convert(t.Elem()))
			}
		}
		return list, true
	}
	return reflect.Value{}, false
}

// otherEnv are the ALIASGATE_ variables read outside the configuration: the
// master key (vault), and the test harness's own (ALIASGATE_TEST_… too).
var otherEnv = []string{"ALIASGATE_MASTER_KEY", "ALIASGATE_CHROMIUM", "ALIASGATE_CRASH_POSTGRES_URL", "ALIASGATE_SCREENSHOTS"}

// UnknownEnv returns one warning for each variable of environ ("NAME=value",
// as os.Environ gives them) whose name starts with ALIASGATE_ (in any
// letter case: names are case-sensitive) and that
// nothing reads: not a setting (EnvVars), not one of also (names the caller
// reads itself, such as the webhook endpoints' secret_env), not the master
// key nor a test harness variable. Such a variable, a typo above all
// (ALIASGATE_LISTEN_INBUOND), would otherwise be ignored without a word;
// the warning names the setting it likely meant. Values are never in it.
func UnknownEnv(environ []string, also ...string) []string {
	vars := EnvVars()
	var out []string
	known := func(name string) bool {
		return slices.Contains(vars, name) || slices.Contains(otherEnv, name) || slices.Contains(also, name)
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		// Names are case-sensitive: aliasgate_listen_inbound is ignored
		// too, and named.
		upper := strings.ToUpper(name)
		if !strings.HasPrefix(upper, envPrefix) || strings.HasPrefix(upper, envPrefix+"TEST_") || known(name) {
			continue
		}
		msg := name + " is not a setting of aliasgate and is ignored"
		if name != upper && known(upper) {
			msg += "; did you mean " + upper + "?"
		} else if s := suggest(upper, vars); s != "" {
			msg += "; did you mean " + s + "?"
		} else if s := sameWords(upper, vars); s != "" {
			msg += "; did you mean " + s + "?"
		} else {
			msg += " (config/README.md lists the variables; lists of mappings and the inline routes are set in the file only)"
		}
		out = append(out, pan.MaskLoose(msg)) // a name may hold a card number: masked like problems
	}
	slices.Sort(out)
	return out
}

// sameWords returns the one name of names made of the words of name (split
// at "_") in another order, each word the same or one edit from its
// counterpart (ALIASGATE_INBOUND_LISTEN, ALIASGATE_ENABLE_VAULT_API: a
// setting's words, ordered as a flag or habit orders them), or "" when no
// name, or more than one, is.
func sameWords(name string, names []string) string {
	words := func(n string) []string {
		w := strings.Split(n, "_")
		slices.Sort(w)
		return w
	}
	want := words(name)
	found := ""
	for _, n := range names {
		got := words(n)
		if len(got) != len(want) {
			continue
		}
		near := true
		for i := range got {
			if editDistance(got[i], want[i]) > 1 {
				near = false
				break
			}
		}
		if near {
			if found != "" {
				return ""
			}
			found = n
		}
	}
	return found
}
