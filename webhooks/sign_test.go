package webhooks_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
)

const (
	secret      = "whsec-test-0123456789abcdef0123456789"
	otherSecret = "whsec-other-0123456789abcdef012345678"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"card.created","data":{"card_id":"CRD1"}}`)
	good := webhooks.Sign([][]byte{[]byte(secret)}, now, body)
	rotated := webhooks.Sign([][]byte{[]byte(otherSecret), []byte(secret)}, now, body)
	v1 := strings.TrimPrefix(good, "t=1800000000,v1=")
	cases := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", secret, good, body, now, nil},
		{"valid within tolerance", secret, good, body, now.Add(299 * time.Second), nil},
		{"rotation: the second v1 matches", secret, rotated, body, now, nil},
		{"spaces and an unknown scheme", secret, " t=1800000000 , v0=abc, v1=" + v1 + " ", body, now, nil},
		{"tampered body", secret, good, []byte(strings.Replace(string(body), "CRD1", "CRD2", 1)), now, webhooks.ErrNoMatch},
		{"body with a byte added", secret, good, append([]byte(string(body)), ' '), now, webhooks.ErrNoMatch},
		{"wrong secret", otherSecret, good, body, now, webhooks.ErrNoMatch},
		{"empty secret", "", good, body, now, webhooks.ErrShortSecret},
		{"old timestamp (replay)", secret, good, body, now.Add(301 * time.Second), webhooks.ErrTimestampTolerance},
		{"timestamp in the future", secret, good, body, now.Add(-301 * time.Second), webhooks.ErrTimestampTolerance},
		{"timestamp changed, same v1", secret, "t=1800000001,v1=" + v1, body, now, webhooks.ErrNoMatch},
		{"no header", secret, "", body, now, webhooks.ErrMalformedHeader},
		{"no v1", secret, "t=1800000000", body, now, webhooks.ErrMalformedHeader},
		{"no t", secret, "v1=" + v1, body, now, webhooks.ErrMalformedHeader},
		{"two t", secret, "t=1800000000,t=1800000000,v1=" + v1, body, now, webhooks.ErrMalformedHeader},
		{"negative t", secret, "t=-1,v1=" + v1, body, now, webhooks.ErrMalformedHeader},
		{"t with leading zero", secret, "t=01800000000,v1=" + v1, body, now, webhooks.ErrMalformedHeader},
		{"t not a number", secret, "t=now,v1=" + v1, body, now, webhooks.ErrMalformedHeader},
		{"v1 not hex", secret, "t=1800000000,v1=" + strings.Repeat("z", 64), body, now, webhooks.ErrMalformedHeader},
		{"v1 short", secret, "t=1800000000,v1=" + v1[:62], body, now, webhooks.ErrMalformedHeader},
		{"item without =", secret, "t=1800000000,v1", body, now, webhooks.ErrMalformedHeader},
		{"too many v1", secret, "t=1800000000" + strings.Repeat(",v1="+v1, 9), body, now, webhooks.ErrMalformedHeader},
		{"header too long", secret, good + "," + strings.Repeat("x=y,", 2000) + "v0=1", body, now, webhooks.ErrMalformedHeader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := webhooks.Verify(c.secret, c.header, c.body, 0, c.now)
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			if c.want != nil && !errors.Is(err, webhooks.ErrInvalidSignature) {
				t.Fatalf("%v does not wrap ErrInvalidSignature", err)
			}
		})
	}
	// A tolerance given is the one used.
	if err := webhooks.Verify(secret, good, body, time.Hour, now.Add(59*time.Minute)); err != nil {
		t.Fatalf("tolerance 1h: %v", err)
	}
	if err := webhooks.Verify(secret, good, body, time.Second, now.Add(2*time.Second)); !errors.Is(err, webhooks.ErrTimestampTolerance) {
		t.Fatalf("tolerance 1s: %v", err)
	}
}

func TestSignHeaderForm(t *testing.T) {
	h := webhooks.Sign([][]byte{[]byte(secret), []byte(otherSecret)}, time.Unix(1_800_000_000, 0), []byte("{}"))
	parts := strings.Split(h, ",")
	if len(parts) != 3 || parts[0] != "t=1800000000" || !strings.HasPrefix(parts[1], "v1=") || len(parts[1]) != 3+64 || parts[1] == parts[2] {
		t.Fatalf("header %q", h)
	}
	if strings.Contains(h, secret) || strings.Contains(h, otherSecret) {
		t.Fatal("the header holds a secret")
	}
}

// FuzzVerify feeds the header parser anything: Verify never panics, and
// accepts only a header that carries the HMAC of the body.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1"}`)
	good := webhooks.Sign([][]byte{[]byte(secret)}, now, body)
	for _, s := range []string{good, "", "t=", "v1=", "t=1800000000,v1=", ",,,", "t=1800000000,v1=" + strings.Repeat("0", 64),
		good + ",v1=" + strings.Repeat("f", 64), "t=9999999999999,v1=00", "t=1,t=2", " t = 1 , v1 = 2 "} {
		f.Add(s, body)
	}
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		err := webhooks.Verify(secret, header, b, time.Duration(1<<62), now)
		if err == nil {
			// Accepted: it must hold the real HMAC of b at its timestamp.
			ts := ""
			for item := range strings.SplitSeq(header, ",") {
				if k, v, _ := strings.Cut(strings.TrimSpace(item), "="); k == "t" {
					ts = v
				}
			}
			sec, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil {
				t.Fatalf("accepted a header without a timestamp: %q", header)
			}
			want := webhooks.Sign([][]byte{[]byte(secret)}, time.Unix(sec, 0), b)
			if !strings.Contains(strings.ToLower(header), strings.TrimPrefix(want, "t="+ts+",")) {
				t.Fatalf("accepted %q for a body it does not sign", header)
			}
		} else if !errors.Is(err, webhooks.ErrInvalidSignature) {
			t.Fatalf("error %v does not wrap ErrInvalidSignature", err)
		}
	})
}

// TestVerifyRefusesAnEmptyOrShortSecret: a receiver whose secret did not
// load (an unset variable reads as "") or is shorter than any the gateway
// signs with (MinSecretLen) accepts nothing, not even a delivery signed
// with that same secret: anyone can compute the HMAC of an empty key, so
// Verify with "" accepted forged deliveries.
func TestVerifyRefusesAnEmptyOrShortSecret(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"card.deleted","data":{"card_id":"CRD1"}}`)
	for _, s := range []string{"", "x", strings.Repeat("k", webhooks.MinSecretLen-1)} {
		forged := webhooks.Sign([][]byte{[]byte(s)}, now, body)
		err := webhooks.Verify(s, forged, body, 0, now)
		if !errors.Is(err, webhooks.ErrShortSecret) || !errors.Is(err, webhooks.ErrInvalidSignature) {
			t.Fatalf("Verify with a %d-byte secret = %v, want ErrShortSecret", len(s), err)
		}
	}
	s := strings.Repeat("k", webhooks.MinSecretLen)
	if err := webhooks.Verify(s, webhooks.Sign([][]byte{[]byte(s)}, now, body), body, 0, now); err != nil {
		t.Fatalf("Verify with a %d-byte secret: %v", len(s), err)
	}
}

// TestEndpointSignsWithNoMoreSecretsThanVerifyReads: every header the
// gateway can send verifies. An endpoint with more secrets than Verify
// reads v1 values (MaxSecrets) is refused at start: it was accepted, and
// its receivers refused every delivery as a malformed header.
func TestEndpointSignsWithNoMoreSecretsThanVerifyReads(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1"}`)
	secrets := func(n int) [][]byte {
		var ss [][]byte
		for i := range n {
			ss = append(ss, []byte(secret+strconv.Itoa(i)))
		}
		return ss
	}
	ep := webhooks.Endpoint{ID: "ep1", Account: "acct1", URL: "https://hooks.example/", Events: []string{"*"}}
	ep.Secrets = secrets(webhooks.MaxSecrets)
	if err := webhooks.CheckEndpoints([]webhooks.Endpoint{ep}, false); err != nil {
		t.Fatal(err)
	}
	last := string(ep.Secrets[len(ep.Secrets)-1])
	if err := webhooks.Verify(last, webhooks.Sign(ep.Secrets, now, body), body, 0, now); err != nil {
		t.Fatalf("%d secrets: the last one's receiver: %v", len(ep.Secrets), err)
	}
	ep.Secrets = secrets(webhooks.MaxSecrets + 1)
	if err := webhooks.CheckEndpoints([]webhooks.Endpoint{ep}, false); !errors.Is(err, webhooks.ErrBadEndpoint) {
		t.Fatalf("%d secrets: %v, want ErrBadEndpoint", len(ep.Secrets), err)
	}
}
