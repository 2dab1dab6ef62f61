package obs_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
