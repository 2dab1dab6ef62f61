package main

import (
	"fmt"
	"net/http"

	"gopkg.in/yaml.v3"

	"github.com/aliasgate/aliasgate/inspector"
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
		Logger:           gw.logger,
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
