package config

import (
	"slices"
	"strconv"
)

// Warnings returns what an operator should know about a valid
// configuration, to be said at start (serve logs them, config check prints
// them): each protection it turns off, and each key of the file that an
// environment variable overrides (a variable left in a unit file or a
// container changes what the file says without a word). Each names its
// key and where it was set (the file's line, or the variable), never a
// value.
func (c Config) Warnings() []string {
	var out []string
	for _, off := range []struct {
		key  string
		on   bool
		what string
	}{
		{"audit.enabled", !c.Audit.Enabled, "audit log disabled (audit.enabled: false): reveals and deletes are not recorded"},
		{"outbound.require_auth", !c.Outbound.RequireAuth, "the outbound proxy asks for no credentials (outbound.require_auth: false): " +
			"any process that reaches it has its requests' aliases revealed, for the default account"},
		{"outbound.allow_private_destinations", c.Outbound.AllowPrivateDestinations, "the outbound proxy may dial loopback, private and " +
			"link-local addresses, cloud metadata endpoints included (outbound.allow_private_destinations: true)"},
		{"webhooks.allow_private_destinations", c.Webhooks.AllowPrivateDestinations, "webhook deliveries may reach loopback, private and " +
			"link-local addresses, cloud metadata endpoints included (webhooks.allow_private_destinations: true)"},
		{"webhooks.allow_insecure_http", c.Webhooks.AllowInsecureHTTP, "webhook endpoints may be plain http:// URLs: events and their " +
			"signatures cross the network in clear (webhooks.allow_insecure_http: true)"},
	} {
		if off.on {
			out = append(out, off.what+c.source(off.key))
		}
	}
	var overridden []string
	for key, name := range c.srcEnv() {
		if line, ok := c.src.lines[key]; ok {
			overridden = append(overridden, key+": "+name+" overrides the value set on line "+strconv.Itoa(line)+" of the configuration file")
		}
	}
	slices.Sort(overridden)
	return append(out, overridden...)
}

// source says where key was set: " (line N)", " (set by NAME)", or
// nothing for a default (or a Config not from Load).
func (c Config) source(key string) string {
	if c.src == nil {
		return ""
	}
	if name, ok := c.src.env[key]; ok {
		return " (set by " + name + ")"
	}
	if line, ok := c.src.lines[key]; ok {
		return " (line " + strconv.Itoa(line) + ")"
	}
	return ""
}

// srcEnv is the keys the environment set, and their variables.
func (c Config) srcEnv() map[string]string {
	if c.src == nil {
		return nil
	}
	return c.src.env
}
