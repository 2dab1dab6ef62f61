package main

import (
	"context"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/abuse"
)

// newAbuseGuard builds the vault's Admission from the limits.* keys: the
// enumeration and duplicate detectors and the per-source buckets of new
// persistent and volatile values (internal/abuse). A flag is an audit line, a metric and a log line
// naming the caller; refusals are counted by limit.
func (gw *gateway) newAbuseGuard(l config.Limits) *abuse.Guard {
	lim := abuse.Limits{
		SourceNew: l.SourceNewValues, SourceBurst: l.SourceNewBurst,
		SourceVolatile: l.SourceVolatileValues, SourceVolatileBurst: l.SourceVolatileBurst,
		Threshold: l.EnumerationThreshold, Duplicates: l.DuplicateThreshold,
		Window: time.Duration(l.EnumerationWindow), Penalty: time.Duration(l.EnumerationPenalty),
	}
	return abuse.New(lim, abuse.Options{
		Refused: func(limit string) { gw.metrics.AbuseRefused.WithLabelValues(limit).Inc() },
		Alert: func(ctx context.Context, a abuse.Alert) {
			kind, _, _ := strings.Cut(a.Caller, ":")
			gw.metrics.AbuseAlerts.WithLabelValues(a.Kind, kind).Inc()
			gw.logger.WarnContext(ctx, "abuse: caller flagged and throttled", "caller", a.Caller, "detector", a.Kind,
				"penalty", time.Duration(l.EnumerationPenalty).String())
			_ = gw.auditEvent(ctx, audit.Event{Event: audit.EventAbuseAlert, Actor: a.Caller, Reason: a.Kind})
		},
	})
}
