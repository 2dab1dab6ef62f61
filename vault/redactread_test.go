package vault_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// readCounter counts the reads a Service makes of the store it wraps.
// With lose set, LookupRecords answers as a store whose index entries
// outlived their records (an expired record still indexed in bbolt).
type readCounter struct {
	vault.Store
	lose                         bool
	index, records, gets, writes atomic.Int64
	handOuts                     atomic.Int64
}

func (c *readCounter) HandOut(ctx context.Context, aliases []string) ([]bool, error) {
	c.handOuts.Add(1)
	return c.Store.HandOut(ctx, aliases)
}

func (c *readCounter) LookupIndex(ctx context.Context, keys [][]byte) ([]string, error) {
	c.index.Add(1)
	return c.Store.LookupIndex(ctx, keys)
}

func (c *readCounter) LookupRecords(ctx context.Context, keys [][]byte) ([]string, []*vault.Record, error) {
	c.records.Add(1)
	aliases, recs, err := c.Store.LookupRecords(ctx, keys)
	if c.lose {
		clear(recs)
	}
	return aliases, recs, err
}

func (c *readCounter) Get(ctx context.Context, aliases []string) ([]*vault.Record, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, aliases)
}

func (c *readCounter) Put(ctx context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	c.writes.Add(1)
	return c.Store.Put(ctx, items)
}

// TestRedactOfAKnownValueReadsItsRecordWithTheIndex: a Redact of a known
// value reads the index and the existing record in one store read
// (LookupRecords), whether it brings classifiers (the proxies'
// redactions), asks for Detail or neither (the record's age says whether
// it is handed out: before, such a call read the index only); the tokens
// and the classifier merge are what they were with two reads. A record
// gone behind its index entry is written again. A record older than
// vault.HandOutWindow (the steady state: a card number tokenized long
// ago) costs no write, no HandOut; a young one one HandOut.
func TestRedactOfAKnownValueReadsItsRecordWithTheIndex(t *testing.T) {
	tests := []struct {
		name  string
		req   vault.RedactRequest
		lose  bool
		young bool // the record was written just before; else HandOutWindow before
		// the persistent store's calls: LookupIndex, LookupRecords, Get, Put
		index, records, gets, writes int64
		handOuts                     int64
		classifiers                  []string // the record's after the call
	}{
		{name: "no classifiers", req: vault.RedactRequest{Value: card, Format: vault.FormatFPESixTFour},
			records: 1, classifiers: []string{"pan"}},
		{name: "a young record", req: vault.RedactRequest{Value: card, Format: vault.FormatFPESixTFour, Classifiers: []string{"pan"}},
			young: true, records: 1, handOuts: 1, classifiers: []string{"pan"}},
		{name: "a young record gone behind its index entry", req: vault.RedactRequest{Value: card, Format: vault.FormatFPESixTFour, Classifiers: []string{"pan"}},
			young: true, lose: true, index: 1, records: 1, writes: 1, handOuts: 1, classifiers: []string{"pan"}}, // Put meets it: PutExisting
		{name: "classifiers it has", req: vault.RedactRequest{Value: card, Format: vault.FormatFPESixTFour, Classifiers: []string{"pan"}},
			records: 1, classifiers: []string{"pan"}},
		{name: "a new classifier", req: vault.RedactRequest{Value: card, Format: vault.FormatFPESixTFour, Classifiers: []string{"visa"}},
			index: 1, records: 1, classifiers: []string{"pan", "visa"}}, // index: the merge looks up the value's other aliases
		{name: "detail", req: vault.RedactRequest{Value: card, Format: vault.FormatFPESixTFour, Detail: true},
			index: 1, records: 1, classifiers: []string{"pan"}}, // index: Token.Others
		{name: "record gone behind its index entry", req: vault.RedactRequest{Value: card, Format: vault.FormatFPESixTFour, Classifiers: []string{"pan"}},
			lose: true, index: 1, records: 1, writes: 1, classifiers: []string{"pan"}}, // index: a new card-like alias is checked against the values held
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := vaulttest.NewClock()
			p := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
			v := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
			t.Cleanup(func() { p.Close(); v.Close() })
			ctx := context.Background()
			kr, err := vault.OpenKeyring(ctx, p, masterKey)
			if err != nil {
				t.Fatal(err)
			}
			c := &readCounter{Store: p}
			svc, err := vault.New(c, v, kr, vault.Options{Env: "test", Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			first, err := svc.Redact(ctx, []vault.RedactRequest{{Value: card, Format: vault.FormatFPESixTFour, Classifiers: []string{"pan"}}})
			if err != nil {
				t.Fatal(err)
			}
			c.index.Store(0)
			c.records.Store(0)
			c.gets.Store(0)
			c.writes.Store(0)
			c.lose = tt.lose
			created := clk.Now()
			if !tt.young {
				clk.Advance(vault.HandOutWindow)
			}

			got, err := svc.Redact(ctx, []vault.RedactRequest{tt.req, {Value: "123", Storage: vault.StorageVolatile}})
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Alias != first[0].Alias || got[0].Created || !got[1].Created || got[1].Storage != vault.StorageVolatile {
				t.Fatalf("tokens %+v, want %s again and a new volatile alias", got, first[0].Alias)
			}
			if n, want := [5]int64{c.index.Load(), c.records.Load(), c.gets.Load(), c.writes.Load(), c.handOuts.Load()},
				[5]int64{tt.index, tt.records, tt.gets, tt.writes, tt.handOuts}; n != want {
				t.Errorf("LookupIndex, LookupRecords, Get, Put, HandOut calls = %v, want %v", n, want)
			}
			if tt.req.Detail && (got[0].Value != card || !slices.Equal(got[0].Classifiers, tt.classifiers) || !got[0].CreatedAt.Equal(created)) {
				t.Errorf("detail token %+v", got[0])
			}
			recs, err := p.Get(ctx, []string{first[0].Alias})
			if err != nil || recs[0] == nil || !slices.Equal(recs[0].Classifiers, tt.classifiers) {
				t.Fatalf("record after the call: %+v, %v; want classifiers %v", recs[0], err, tt.classifiers)
			}
		})
	}
}
