package vault_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// namedStore gives a memory store another name, to tell the two stores
// apart in the metrics.
type namedStore struct {
	vault.Store
	name string
}

func (n namedStore) StoreName() string { return n.name }

var _ vault.Observer = (*obs.Metrics)(nil)

// TestMetricsObserveEveryStoreOperation: a Service with the gateway's
// *obs.Metrics as its Observer counts each store operation by operation,
// store and result, and times it; no alias or value is in a label.
func TestMetricsObserveEveryStoreOperation(t *testing.T) {
	clk := vaulttest.NewClock()
	p := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	v := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	ctx := context.Background()
	kr, err := vault.OpenKeyring(ctx, p, masterKey)
	if err != nil {
		t.Fatal(err)
	}
	m := obs.NewMetrics()
	svc, err := vault.New(namedStore{p, "bolt"}, v, kr, vault.Options{Env: "test", Now: clk.Now, Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: card}, {Value: "123", Storage: vault.StorageVolatile}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reveal(ctx, []string{toks[0].Alias}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Known(ctx, []string{card}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, "tok_test_unknown"); err == nil {
		t.Fatal("Delete of an unknown alias succeeded")
	}
	if err := svc.UpdateClassifiers(ctx, toks[1].Alias, []string{"cvc"}); err != nil {
		t.Fatal(err)
	}

	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		switch f.GetName() {
		case "aliasgate_vault_operations_total", "aliasgate_vault_operation_duration_seconds":
		default:
			continue
		}
		for _, s := range f.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := f.GetName() + "{" + strings.Join(labels, ",") + "}"
			if c := s.GetCounter(); c != nil {
				got[key] = c.GetValue()
			} else {
				got[key] = float64(s.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		// Redact: the index look-up finds nothing, then one write per store.
		"aliasgate_vault_operations_total{op=redact,result=not_found,store=bolt}": 1,
		"aliasgate_vault_operations_total{op=redact,result=ok,store=bolt}":        1,
		"aliasgate_vault_operations_total{op=redact,result=ok,store=memory}":      1,
		// Reveal of a persistent alias: the volatile store first.
		"aliasgate_vault_operations_total{op=reveal,result=not_found,store=memory}": 1,
		"aliasgate_vault_operations_total{op=reveal,result=ok,store=bolt}":          1,
		// Known of a stored value: the index look-up answers.
		"aliasgate_vault_operations_total{op=known,result=ok,store=bolt}": 1,
		// Delete of an unknown alias: both stores say not found.
		"aliasgate_vault_operations_total{op=delete,result=not_found,store=memory}": 1,
		"aliasgate_vault_operations_total{op=delete,result=not_found,store=bolt}":   1,
		// Update of a volatile alias: found and set in the volatile store.
		"aliasgate_vault_operations_total{op=update,result=ok,store=memory}": 2,

		"aliasgate_vault_operation_duration_seconds{op=redact,store=bolt}":   2,
		"aliasgate_vault_operation_duration_seconds{op=redact,store=memory}": 1,
		"aliasgate_vault_operation_duration_seconds{op=reveal,store=memory}": 1,
		"aliasgate_vault_operation_duration_seconds{op=reveal,store=bolt}":   1,
		"aliasgate_vault_operation_duration_seconds{op=known,store=bolt}":    1,
		"aliasgate_vault_operation_duration_seconds{op=delete,store=memory}": 1,
		"aliasgate_vault_operation_duration_seconds{op=delete,store=bolt}":   1,
		"aliasgate_vault_operation_duration_seconds{op=update,store=memory}": 2,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s = %v, want %v", k, got[k], n)
		}
	}
	if len(got) != len(want) {
		var keys []string
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("series %v, want the %d above", keys, len(want))
	}
	for k := range got {
		if strings.Contains(k, card) || strings.Contains(k, toks[0].Alias) || strings.Contains(k, toks[1].Alias) {
			t.Errorf("series %s holds an alias or value", k)
		}
	}
}

// recordingObserver keeps the observations it is given.
type recordingObserver struct{ got []string }

func (r *recordingObserver) ObserveVault(op, store, result string, _ time.Duration) {
	r.got = append(r.got, op+"/"+store+"/"+result)
}

// TestRefusedCallIsObservedAsBusy: a call over the concurrency bound is
// observed with store "-" and result "busy"; a store without a name (the
// wrapper) is "other".
func TestRefusedCallIsObservedAsBusy(t *testing.T) {
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, masterKey)
	if err != nil {
		t.Fatal(err)
	}
	bv := &blockingStore{Store: v, entered: make(chan struct{}, 8), release: make(chan struct{})}
	ro := &recordingObserver{}
	svc, err := vault.New(p, bv, kr, vault.Options{MaxConcurrent: 1, MaxWait: time.Millisecond, Observer: ro})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Reveal(context.Background(), []string{"tok_sandbox_x"})
	}()
	<-bv.entered
	if err := svc.Delete(context.Background(), "tok_sandbox_x"); err == nil {
		t.Fatal("Delete over the bound succeeded")
	}
	close(bv.release)
	<-done
	if strings.Join(ro.got, " ") != "delete/-/busy reveal/other/not_found reveal/memory/not_found" {
		t.Fatalf("observations %v", ro.got)
	}
}

// slowStore takes delay to answer Get.
type slowStore struct {
	vault.Store
	delay time.Duration
}

func (s slowStore) Get(ctx context.Context, aliases []string) ([]*vault.Record, error) {
	time.Sleep(s.delay)
	return s.Store.Get(ctx, aliases)
}

// timingObserver records the durations observed.
type timingObserver struct{ d []time.Duration }

func (o *timingObserver) ObserveVault(_, _, _ string, d time.Duration) { o.d = append(o.d, d) }

// TestObservedDurationsAreTheStoreCalls: an observation's duration (timed
// on the monotonic clock from the Service's making, no wall-clock read) is
// how long the store call took, as time.Since of a time.Now() read before
// it: a store that takes 30 ms is observed at 30 ms or more, and at no
// more than the whole call, also when the Service was made long before.
func TestObservedDurationsAreTheStoreCalls(t *testing.T) {
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	ctx := context.Background()
	kr, err := vault.OpenKeyring(ctx, p, masterKey)
	if err != nil {
		t.Fatal(err)
	}
	o := &timingObserver{}
	const delay = 30 * time.Millisecond
	svc, err := vault.New(slowStore{p, delay}, v, kr, vault.Options{Env: "test", Observer: o})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the Service's epoch well before the calls
	for range 3 {
		o.d = nil
		t0 := time.Now()
		if _, err := svc.Reveal(ctx, []string{"tok_test_unknown"}); err != nil {
			t.Fatal(err)
		}
		whole := time.Since(t0)
		if len(o.d) != 2 {
			t.Fatalf("%d observations, want the two stores'", len(o.d))
		}
		// Volatile first (the memory store, quick), then the slow one.
		if d := o.d[1]; d < delay || d > whole || o.d[0] < 0 || o.d[0]+d > whole {
			t.Fatalf("observed %v and %v for stores of 0 and %v, in a call of %v", o.d[0], d, delay, whole)
		}
	}
}
