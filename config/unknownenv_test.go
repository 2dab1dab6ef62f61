package config

import (
	"strings"
	"testing"
)

// TestUnknownEnvNamesTyposNeverValues: an ALIASGATE_ variable that is no
// setting (a typo such as ALIASGATE_LISTEN_INBUOND, or a key the
// environment cannot set) is named, with the setting it likely meant, and
// its value never; settings, the master key, names the caller reads
// itself (webhook secret_env) and the test harness's variables are not.
func TestUnknownEnvNamesTyposNeverValues(t *testing.T) {
	got := UnknownEnv([]string{
		"PATH=/usr/bin",
		"ALIASGATE_LISTEN_INBUOND=127.0.0.1:18080",
		"ALIASGATE_LISTEN_INBOUND=127.0.0.1:18080",
		"ALIASGATE_MASTER_KEY=c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=",
		"ALIASGATE_ROUTES=4111111111111111",
		"ALIASGATE_ACME_HOOK_SECRET=s3cr3t",
		"ALIASGATE_TEST_NO_BROWSER=1",
		"ALIASGATE_VAULT_VOLATILE_TTL=30m",
	}, "ALIASGATE_ACME_HOOK_SECRET")
	if len(got) != 2 {
		t.Fatalf("UnknownEnv = %q, want the typo and ALIASGATE_ROUTES", got)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"ALIASGATE_LISTEN_INBUOND", "did you mean ALIASGATE_LISTEN_INBOUND", "ALIASGATE_ROUTES"} {
		if !strings.Contains(all, want) {
			t.Errorf("UnknownEnv = %q, lacks %q", got, want)
		}
	}
	for _, value := range []string{"127.0.0.1:18080", "4111111111111111", "s3cr3t"} {
		if strings.Contains(all, value) {
			t.Errorf("UnknownEnv echoes a value: %q", got)
		}
	}
}

// TestUnknownEnvNamesAVariableInAnotherLetterCase: variable names are
// case-sensitive, so aliasgate_outbound_require_auth=false (as some
// compose files spell them) was ignored without a word. It is named, with
// the setting it spells; a name of ours in another case is no exception.
func TestUnknownEnvNamesAVariableInAnotherLetterCase(t *testing.T) {
	got := UnknownEnv([]string{
		"aliasgate_outbound_require_auth=false",
		"Aliasgate_Listen_Inbound=127.0.0.1:1",
		"aliasgate_master_key=x",
		"ALIASGATE_LISTEN_INBOUND=127.0.0.1:18080",
		"aliasgate_test_x=1",
	})
	all := strings.Join(got, "\n")
	if len(got) != 3 {
		t.Fatalf("UnknownEnv = %q, want the three names in another case", got)
	}
	for _, want := range []string{
		"aliasgate_outbound_require_auth is not a setting of aliasgate and is ignored; did you mean ALIASGATE_OUTBOUND_REQUIRE_AUTH?",
		"Aliasgate_Listen_Inbound is not a setting of aliasgate and is ignored; did you mean ALIASGATE_LISTEN_INBOUND?",
		"aliasgate_master_key is not a setting of aliasgate and is ignored; did you mean ALIASGATE_MASTER_KEY?",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("UnknownEnv = %q, lacks %q", got, want)
		}
	}
}

// TestUnknownEnvSuggestsTheSettingOfTheSameWords: a variable that spells a
// setting's words in another order, or one of them a letter off
// (ALIASGATE_ENABLE_VAULT_API, after serve's --enable-vault-api flag), is
// named with that setting. Before, only names a few letters from a setting
// were given one: these were "not a setting of aliasgate", with no hint,
// and a reader who moved the inbound listener with ALIASGATE_INBOUND_LISTEN
// found the gateway on 127.0.0.1:8080 still.
func TestUnknownEnvSuggestsTheSettingOfTheSameWords(t *testing.T) {
	for name, want := range map[string]string{
		"ALIASGATE_INBOUND_LISTEN":   "ALIASGATE_LISTEN_INBOUND",
		"ALIASGATE_ENABLE_VAULT_API": "ALIASGATE_VAULT_API_ENABLED",
		"ALIASGATE_UI_ADMIN":         "ALIASGATE_ADMIN_UI",
		"ALIASGATE_TOKEN_ADMIN":      "ALIASGATE_ADMIN_TOKEN",
		"ALIASGATE_DIR_DATA":         "ALIASGATE_DATA_DIR",
	} {
		got := UnknownEnv([]string{name + "=x"})
		if len(got) != 1 || !strings.Contains(got[0], "did you mean "+want+"?") {
			t.Errorf("UnknownEnv(%s) = %q, want a suggestion of %s", name, got, want)
		}
	}
	// Words of no setting: no suggestion.
	got := UnknownEnv([]string{"ALIASGATE_SOMETHING_ELSE=x"})
	if len(got) != 1 || strings.Contains(got[0], "did you mean") {
		t.Errorf("UnknownEnv = %q, want no suggestion", got)
	}
}

// TestUnknownEnvNeverNamesACardNumber: the warning quotes the variable's
// name, so a card number in it (ALIASGATE_4111111111111111, or grouped by
// '_' as ALIASGATE_PAN_4111_1111_1111_1111) was printed in clear by config
// check (and logged by serve); names are masked like problems.
func TestUnknownEnvNeverNamesACardNumber(t *testing.T) {
	got := UnknownEnv([]string{"ALIASGATE_4111111111111111=x", "ALIASGATE_PAN_4111_1111_1111_1111=x", "aliasgate_card_4111-1111-1111-1111=x"})
	if len(got) != 3 {
		t.Fatalf("UnknownEnv = %q, want three warnings", got)
	}
	for _, w := range got {
		if strings.Contains(strings.NewReplacer("_", "", "-", "").Replace(w), "4111111111111111") {
			t.Errorf("warning shows a card number: %s", w)
		}
		if !strings.Contains(w, "4111") {
			t.Errorf("warning does not name the variable: %s", w)
		}
	}
}
