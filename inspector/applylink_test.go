package inspector

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
)

// TestApplyToALinkedRoutesFileWritesTheFileItNames: a routes_file that is
// a symbolic link (to a file in a repository checkout, or kept by
// configuration management) was replaced by apply with a regular file:
// the link was gone, the file it named kept the old routes, and the edits
// made there since (a CVC target added, say) were never loaded again, the
// gateway watching a file nobody edits. Apply now writes the file the link
// names, its backup next to it, and the link stays.
func TestApplyToALinkedRoutesFileWritesTheFileItNames(t *testing.T) {
	var link string
	f := newFixture(t, false, func(o *Options) {
		link = filepath.Join(t.TempDir(), "routes.yaml")
		if err := os.Symlink(o.RoutesFile, link); err != nil {
			t.Fatal(err)
		}
		rl := routes.NewReloader(o.Table, link, routes.Options{}, nil, nil)
		o.RoutesFile, o.Reload = link, rl.Reload
	})
	doc := shopRoutes + `  - id: added
    direction: inbound
    host: added.example
    upstream: http://127.0.0.1:3001
`
	res, b := f.do(t, nil, "POST", "/ui/api/apply", map[string]any{"yaml": doc}, bearer)
	var answer applyResult
	if res.StatusCode != 200 || json.Unmarshal(b, &answer) != nil || !answer.Persisted {
		t.Fatalf("apply: %d %s", res.StatusCode, b)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the routes file is no longer the link (%v, %v)", fi.Mode(), err)
	}
	if got, _ := os.ReadFile(f.file); string(got) != doc {
		t.Errorf("the file the link names was not written:\n%s", got)
	}
	if got, _ := os.ReadFile(f.file + ".bak"); string(got) != shopRoutes || answer.Backup != f.file+".bak" {
		t.Errorf("backup %s:\n%s", answer.Backup, got)
	}
	if r := f.table.Load().Match(routes.Inbound, "added.example", "/x"); r == nil || r.ID != "added" {
		t.Error("the new set is not in force")
	}
}
