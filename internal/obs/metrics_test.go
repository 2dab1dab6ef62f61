package obs_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

func TestMetricsHandler(t *testing.T) {
	m := obs.NewMetrics()
	obs.NewMetrics() // registries are independent: a second one does not panic

	// One observation each, the HTTP ones through the middleware.
	app := obs.AccessLog(obstest.Logger(t), m, "inbound", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obs.SetRoute(r.Context(), "r1")
	}))
	app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	m.VaultOps.WithLabelValues("redact", "bolt", "ok").Inc()
	m.VaultDuration.WithLabelValues("redact", "bolt").Observe(0.002)
	m.StoreUp.WithLabelValues("bolt").Set(1)

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	text := string(body)
	for _, want := range []string{
		`aliasgate_http_requests_total{listener="inbound",method="GET",route="r1",status="200"} 1`,
		`aliasgate_http_request_duration_seconds_count{listener="inbound",route="r1"} 1`,
		`aliasgate_http_request_duration_seconds_bucket{listener="inbound",route="r1",le="0.0005"}`,
		`aliasgate_vault_operations_total{op="redact",result="ok",store="bolt"} 1`,
		`aliasgate_vault_operation_duration_seconds_count{op="redact",store="bolt"} 1`,
		`aliasgate_store_up{store="bolt"} 1`,
		"# HELP aliasgate_http_requests_total ",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
}

// TestObserveVaultCountsAndTimes: ObserveVault (vault.Observer) counts one
// operation per call and observes its duration in seconds.
func TestObserveVaultCountsAndTimes(t *testing.T) {
	m := obs.NewMetrics()
	m.ObserveVault("known", "postgres", "ok", 3*time.Millisecond)
	m.ObserveVault("known", "postgres", "ok", time.Millisecond)
	m.ObserveVault("reveal", "-", "busy", 5*time.Second)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			key := f.GetName()
			for _, l := range s.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			switch f.GetName() {
			case "aliasgate_vault_operations_total":
				got[key] = s.GetCounter().GetValue()
			case "aliasgate_vault_operation_duration_seconds":
				got[key+" count"] = float64(s.GetHistogram().GetSampleCount())
				got[key+" sum"] = s.GetHistogram().GetSampleSum()
			}
		}
	}
	want := map[string]float64{
		"aliasgate_vault_operations_total op=known result=ok store=postgres":       2,
		"aliasgate_vault_operations_total op=reveal result=busy store=-":           1,
		"aliasgate_vault_operation_duration_seconds op=known store=postgres count": 2,
		"aliasgate_vault_operation_duration_seconds op=known store=postgres sum":   0.004,
		"aliasgate_vault_operation_duration_seconds op=reveal store=- count":       1,
		"aliasgate_vault_operation_duration_seconds op=reveal store=- sum":         5,
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if d := got[k] - v; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestHTTPSeriesCachedPerLabels checks that the children the access log
// caches per label tuple count each tuple apart and fold methods and the
// hijacked status as the labels do: the series and their values are those
// of one WithLabelValues per request.
func TestHTTPSeriesCachedPerLabels(t *testing.T) {
	m := obs.NewMetrics()
	reqs := []struct {
		listener, method, route string
		status                  int
		hijack                  bool
	}{
		{"inbound", "POST", "r1", 200, false},
		{"inbound", "POST", "r1", 200, false},
		{"inbound", "POST", "r1", 201, false},
		{"outbound", "POST", "r1", 200, false},
		{"inbound", "PURGE", "r1", 200, false},
		{"inbound", "BREW", "r1", 200, false},
		{"inbound", "POST", "", 200, false},
		{"outbound", "CONNECT", "c", 0, true},
		{"outbound", "CONNECT", "c", 0, true},
	}
	for _, rq := range reqs {
		h := obs.AccessLog(nil, m, rq.listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rq.route != "" {
				obs.SetRoute(r.Context(), rq.route)
			}
			if rq.hijack {
				c, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Fatal(err)
				}
				_ = c.Close()
				return
			}
			w.WriteHeader(rq.status)
		}))
		done := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(done) // after AccessLog counted (a hijacked conn outlives srv.Close)
			h.ServeHTTP(w, r)
		}))
		req, _ := http.NewRequest(rq.method, srv.URL+"/x", nil)
		if resp, err := srv.Client().Do(req); err == nil {
			_ = resp.Body.Close()
		}
		<-done
		srv.Close()
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			key := f.GetName()
			for _, l := range s.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			switch f.GetName() {
			case "aliasgate_http_requests_total":
				got[key] = s.GetCounter().GetValue()
			case "aliasgate_http_request_duration_seconds":
				got[key] = float64(s.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"aliasgate_http_requests_total listener=inbound method=POST route=r1 status=200":         2,
		"aliasgate_http_requests_total listener=inbound method=POST route=r1 status=201":         1,
		"aliasgate_http_requests_total listener=outbound method=POST route=r1 status=200":        1,
		"aliasgate_http_requests_total listener=inbound method=OTHER route=r1 status=200":        2,
		"aliasgate_http_requests_total listener=inbound method=POST route=- status=200":          1,
		"aliasgate_http_requests_total listener=outbound method=CONNECT route=c status=hijacked": 2,
		"aliasgate_http_request_duration_seconds listener=inbound route=r1":                      5,
		"aliasgate_http_request_duration_seconds listener=outbound route=r1":                     1,
		"aliasgate_http_request_duration_seconds listener=inbound route=-":                       1,
		"aliasgate_http_request_duration_seconds listener=outbound route=c":                      2,
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestCountFilterResult(t *testing.T) {
	m := obs.NewMetrics()
	for _, c := range [][3]string{
		{"psp", "reveal-card", "applied"},
		{"psp", "reveal-card", "applied"},
		{"psp", "reveal-card", "rejected"},
		{"psp", "redact-cvc", "applied"},
		{"shop", "-", "unmatched_body"},
	} {
		m.CountFilterResult(c[0], c[1], c[2])
	}
	for _, tc := range []struct {
		route, filter, result string
		want                  float64
	}{
		{"psp", "reveal-card", "applied", 2},
		{"psp", "reveal-card", "rejected", 1},
		{"psp", "redact-cvc", "applied", 1},
		{"shop", "-", "unmatched_body", 1},
		{"shop", "-", "applied", -1},
	} {
		got := counterValue(t, m, "aliasgate_proxy_filter_results_total",
			map[string]string{"route": tc.route, "filter": tc.filter, "result": tc.result})
		if got != tc.want {
			t.Errorf("%s/%s/%s = %v, want %v", tc.route, tc.filter, tc.result, got, tc.want)
		}
	}
}

// TestObserveVaultConcurrentNewSeries: observations of new label tuples
// from many goroutines at once (the copy-on-write cache adding tuples as
// others read it) are all counted, each in its own series.
func TestObserveVaultConcurrentNewSeries(t *testing.T) {
	m := obs.NewMetrics()
	ops := []string{"redact", "reveal", "describe", "known", "delete", "update"}
	results := []string{"ok", "not_found", "error"}
	const rounds = 50
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for i, op := range ops {
					m.ObserveVault(op, "memory", results[(g+r+i)%len(results)], time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total, series := 0.0, 0
	for _, f := range fams {
		if f.GetName() != "aliasgate_vault_operations_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			total += s.GetCounter().GetValue()
			series++
		}
	}
	if want := float64(8 * rounds * len(ops)); total != want || series != len(ops)*len(results) {
		t.Errorf("%v observations in %d series, want %v in %d", total, series, want, len(ops)*len(results))
	}
}
