package dispatch

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/aliasgate/aliasgate/webhooks"
)

// Handler is the operator's view of the delivery log, for the admin
// listener (mounted behind admin.token):
//
//	GET  /admin/webhooks/deliveries?account=&state=&before=&limit=
//	GET  /admin/webhooks/deliveries/{id}
//	POST /admin/webhooks/deliveries/{id}/redeliver
//
// The list is newest first; "before" is the id of the last delivery of
// the previous page. Answers are JSON: {"data":[deliveries],
// "next_before":"dlv_…"} and one delivery. Redeliver makes a delivered or
// failed delivery pending, due now (409 for a pending one).
func (o *Dispatcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/webhooks/deliveries", o.list)
	mux.HandleFunc("GET /admin/webhooks/deliveries/{id}", o.get)
	mux.HandleFunc("POST /admin/webhooks/deliveries/{id}/redeliver", o.redeliver)
	return mux
}

func (o *Dispatcher) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := webhooks.Filter{Account: q.Get("account"), State: webhooks.State(q.Get("state")), Before: q.Get("before")}
	switch f.State {
	case "", webhooks.StatePending, webhooks.StateDelivered, webhooks.StateFailed:
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "state must be pending, delivered or failed"})
		return
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be 1 to 1000"})
			return
		}
		f.Limit = n
	}
	ds, err := o.store.ListDeliveries(r.Context(), f)
	if err != nil {
		o.log.Warn("webhooks: list deliveries failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the delivery log is unavailable"})
		return
	}
	if ds == nil {
		ds = []webhooks.Delivery{}
	}
	out := map[string]any{"data": ds}
	lim := f.Limit
	if lim == 0 {
		lim = webhooks.DefaultLimit
	}
	if len(ds) == lim {
		out["next_before"] = ds[len(ds)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (o *Dispatcher) get(w http.ResponseWriter, r *http.Request) {
	d, err := o.store.GetDelivery(r.Context(), r.PathValue("id"))
	if o.failed(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (o *Dispatcher) redeliver(w http.ResponseWriter, r *http.Request) {
	d, err := o.store.RedeliverDelivery(r.Context(), r.PathValue("id"), o.now().UTC())
	if o.failed(w, err) {
		return
	}
	o.log.Info("webhooks: redelivery requested by the operator", "delivery", d.ID)
	o.Wake()
	writeJSON(w, http.StatusOK, d)
}

// failed answers a store error; false when there was none.
func (o *Dispatcher) failed(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, webhooks.ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such delivery"})
	case errors.Is(err, webhooks.ErrNotFinished):
		writeJSON(w, http.StatusConflict, map[string]string{"error": "the delivery is still pending"})
	default:
		o.log.Warn("webhooks: delivery log failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the delivery log is unavailable"})
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
