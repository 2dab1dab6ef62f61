package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as text in the configuration: "90s",
// "15m", "1h30m" (time.ParseDuration syntax; a bare number is refused, so
// the unit is always explicit).
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does, without zero trailing units: "1h"
// rather than "1h0m0s", "1h30m", "90ms".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler (used by YAML and JSON
// encoders) with String's format.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := parseDuration(string(text))
	if err != nil {
		return fmt.Errorf("config: invalid duration: %w", err)
	}
	*d = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler. A bad value is a *yaml.TypeError
// naming the line, so a decoder reports it along with the document's other
// type errors.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, errDuration)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return lineError(n, err)
	}
	*d = v
	return nil
}

// errDuration describes what a duration must look like.
var errDuration = errors.New("must be a duration such as 90s, 15m or 1h30m")

// parseDuration parses time.ParseDuration syntax. Its error never contains
// the value.
func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, errDuration
	}
	return Duration(v), nil
}

// ByteSize is a number of bytes written as text in the configuration: a
// whole number with an optional unit, "512B", "1000", "64KiB", "10MiB",
// "1GiB" (powers of 1024) or "10KB", "10MB", "1GB" (powers of 1000). Units
// go up to TiB and TB and are case-insensitive; a space before the unit is
// allowed.
type ByteSize int64

// Byte sizes for building configurations in code.
const (
	KiB ByteSize = 1 << 10 // KiB is 1024 bytes.
	MiB ByteSize = 1 << 20 // MiB is 1024 KiB.
	GiB ByteSize = 1 << 30 // GiB is 1024 MiB.
)

// Int64 returns b as a plain number of bytes.
func (b ByteSize) Int64() int64 { return int64(b) }

// byteUnits are the accepted units, largest first, binary before decimal of
// about the same size so that String prefers 64KiB over 65536B.
var byteUnits = [...]struct {
	name string
	size int64
}{
	{"TiB", 1 << 40}, {"TB", 1e12},
	{"GiB", 1 << 30}, {"GB", 1e9},
	{"MiB", 1 << 20}, {"MB", 1e6},
	{"KiB", 1 << 10}, {"KB", 1e3},
	{"B", 1},
}

// String formats b with the largest unit that divides it exactly ("10MiB",
// "10MB", "1500B"), so that parsing the result gives b back.
func (b ByteSize) String() string {
	n := int64(b)
	if n <= 0 {
		return strconv.FormatInt(n, 10) + "B"
	}
	for _, u := range byteUnits {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B" // unreachable: the last unit is 1
}

// MarshalText implements encoding.TextMarshaler with String's format.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := parseByteSize(string(text))
	if err != nil {
		return fmt.Errorf("config: invalid byte size: %w", err)
	}
	*b = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler. A bad value is a *yaml.TypeError
// naming the line.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, errByteSize)
	}
	v, err := parseByteSize(n.Value)
	if err != nil {
		return lineError(n, err)
	}
	*b = v
	return nil
}

var (
	// errByteSize describes what a byte size must look like.
	errByteSize = errors.New("must be a size in bytes such as 512B, 64KiB, 10MiB or 10MB")
	// errByteSizeRange is the error for a size that does not fit an int64.
	errByteSizeRange = errors.New("must be less than 8EiB")
)

// parseByteSize parses a ByteSize. Its error never contains the value.
func parseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errByteSize
	}
	unit := strings.TrimSpace(s[i:])
	size := int64(1)
	if unit != "" {
		size = 0
		for _, u := range byteUnits {
			if strings.EqualFold(unit, u.name) {
				size = u.size
				break
			}
		}
		if size == 0 {
			return 0, errByteSize
		}
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		// Only digits were given, so the one possible error is range.
		return 0, errByteSizeRange
	}
	if n > math.MaxInt64/size {
		return 0, errByteSizeRange
	}
	return ByteSize(n * size), nil
}

// lineError is the *yaml.TypeError for a bad scalar at n: the value is quoted
// after the message (a config file's own text, never an environment value).
func lineError(n *yaml.Node, err error) error {
	msg := fmt.Sprintf("line %d: %v", n.Line, err)
	if n.Kind == yaml.ScalarNode {
		msg += ", got " + quoteValue(n.Value)
	}
	return &yaml.TypeError{Errors: []string{msg}}
}

// quoteValue quotes a value from the file for an error message, cut to a
// readable length.
func quoteValue(s string) string {
	const limit = 40
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return strconv.Quote(s)
}
