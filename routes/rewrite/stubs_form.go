package rewrite

import "errors"

// Placeholder until the form locator lands.
func newFormLocator(specs []TargetSpec, idx []int) (Locator, error) {
	return nil, errors.New("rewrite: form targets not built yet")
}

func formEscape(v string) string { return v }
