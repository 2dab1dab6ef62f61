package pgstore_test

import (
	"testing"

	"github.com/aliasgate/aliasgate/vault/pgstore"
	"github.com/aliasgate/aliasgate/webhooks"
	"github.com/aliasgate/aliasgate/webhooks/webhookstest"
)

func TestWebhookStore(t *testing.T) {
	webhookstest.Run(t, func(t *testing.T) webhooks.Store {
		s := openStore(t, newSchema(t), pgstore.Options{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
