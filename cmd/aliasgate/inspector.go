package main

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/aliasgate/aliasgate/inspector"
	"github.com/aliasgate/aliasgate/internal/lockout"
	"github.com/aliasgate/aliasgate/proxy"
)

// openInspector builds the inspector when admin.ui is on (after
// loadRoutes: it masks captures with the route table and applies route
// sets through the reloader).
func (gw *gateway) openInspector() error {
	if !gw.cfg.Admin.UI {
		return nil
	}
	opts := inspector.Options{
		Token:            gw.cfg.Admin.Token,
		Size:             gw.cfg.Admin.UICaptureSize,
		BodyLimit:        int(gw.cfg.Admin.UICaptureBody.Int64()),
		Table:            gw.routes,
		RouteOptions:     routeOptions(),
		PreviewTokenizer: dryRunTokenizer,
		MaxBody:          gw.cfg.Limits.MaxBody.Int64(),
		Logger:           gw.logger,
		Lockout:          gw.tokenLockout(),
		Applied:          gw.auditRoutesApplied,
	}
	if gw.reloader != nil {
		opts.RoutesFile, opts.Reload = gw.cfg.RoutesFile, gw.reloader.Reload
	} else if gw.cfg.Routes.Kind != 0 {
		doc, err := yaml.Marshal(map[string]*yaml.Node{"routes": &gw.cfg.Routes})
		if err != nil {
			return fmt.Errorf("inspector: inline routes: %w", err)
		}
		opts.InlineRoutes = doc
	}
	insp, err := inspector.New(opts)
	if err != nil {
		return err
	}
	gw.inspector = insp
	gw.logger.Info("inspector on", "path", inspector.Prefix, "listener", "admin",
		"keeps", opts.Size, "body_bytes", opts.BodyLimit)
	return nil
}

// tokenLockout returns the lockout of wrong admin tokens per remote address
// that every check of admin.token shares (the key endpoints and the
// inspector: failures at one count at the other), made on first use
// (startup, one goroutine) with lockout's defaults, and counted in
// aliasgate_admin_lockouts_total (no address label: the log names it).
func (gw *gateway) tokenLockout() *lockout.Table {
	if gw.adminLockout == nil {
		t := lockout.New(lockout.Options{})
		gw.adminLockout = t
		if gw.metrics != nil {
			registerOnce(gw.metrics.Registry, prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "aliasgate_admin_lockouts_total",
				Help: "Wrong admin tokens that locked their remote address out (every failure past the free ones), at the admin listener's key endpoints and the inspector.",
			}, func() float64 { return float64(t.Lockouts()) }))
		}
	}
	return gw.adminLockout
}

// capturer is the proxies' Capturer: the inspector, or nil (an untyped nil,
// so the proxies skip capture entirely).
func (gw *gateway) capturer() proxy.Capturer {
	if gw.inspector == nil {
		return nil
	}
	return gw.inspector
}

// mountInspector serves the inspector at /ui/ on the admin listener.
func (gw *gateway) mountInspector(mux *http.ServeMux) {
	if gw.inspector == nil {
		return
	}
	mux.Handle(inspector.Prefix, gw.inspector.Handler())
	mux.Handle("GET /ui", http.RedirectHandler(inspector.Prefix, http.StatusMovedPermanently))
}

// stopInspector ends the inspector's event streams, which never go idle
// and would hold the admin listener's shutdown until its timeout.
func (gw *gateway) stopInspector() {
	if gw.inspector != nil {
		gw.inspector.Close()
	}
}
