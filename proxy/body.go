package proxy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"strings"
	"sync"
)

// Body errors.
var (
	errTooLarge            = errors.New("proxy: body over max_body")
	errUnsupportedEncoding = errors.New("proxy: unsupported content encoding")
	errBadEncoding         = errors.New("proxy: body does not decode")
)

// readLimited reads all of r when it holds at most max bytes. When it holds
// more it returns what was read (max+1 bytes) and errTooLarge; the rest is
// still in r.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > max {
		return b, errTooLarge
	}
	return b, nil
}

// readBody is readLimited with the body's declared length (Content-Length,
// -1 when unknown) as a size hint: one allocation of the right size rather
// than io.ReadAll's growing copies. A body longer than declared is still
// read to its end, up to max.
func readBody(r io.Reader, length, max int64) ([]byte, error) {
	if length <= 0 || length > max {
		return readLimited(r, max)
	}
	b := make([]byte, length)
	if n, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return b[:n], err
	}
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n > 0 {
			rest, err := readLimited(r, max-length-1)
			b = append(append(b, one[0]), rest...)
			return b, err
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// copyBuffers is the ReverseProxy BufferPool of both proxies: without one,
// ReverseProxy allocates a 32 KiB buffer for every response it copies,
// which made most of the proxies' garbage.
var copyBuffers = &bufferPool{}

// bufferPool is an httputil.BufferPool of 32 KiB buffers.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (bp *bufferPool) Put(b []byte) {
	if cap(b) != 32<<10 {
		return
	}
	b = b[:cap(b)]
	bp.p.Put(&b)
}

// contentEncoding returns the Content-Encoding as one lower-case token: ""
// for none or identity, "gzip", "deflate", or the raw value for anything
// else (br, zstd, a list of encodings), which this proxy cannot rewrite.
func contentEncoding(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	switch v {
	case "", "identity":
		return ""
	case "x-gzip":
		return "gzip"
	}
	return v
}

// decodeBody decodes a gzip or deflate body, bounding the decoded size by
// max (errTooLarge above it: a compression bomb stops there). enc "" returns
// b as is. Other encodings give errUnsupportedEncoding.
func decodeBody(enc string, b []byte, max int64) ([]byte, error) {
	var r io.ReadCloser
	var err error
	switch enc {
	case "":
		return b, nil
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(b))
	case "deflate":
		// HTTP "deflate" is zlib (RFC 1950); some senders use raw deflate.
		r, err = zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			r, err = flate.NewReader(bytes.NewReader(b)), nil
		}
	default:
		return nil, errUnsupportedEncoding
	}
	if err != nil {
		return nil, errBadEncoding
	}
	defer r.Close()
	out, err := readLimited(r, max)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, errTooLarge
	case err != nil:
		return nil, errBadEncoding
	}
	return out, nil
}

// encodeBody encodes b with enc ("", "gzip" or "deflate").
func encodeBody(enc string, b []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "":
		return b, nil
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	default:
		return nil, errUnsupportedEncoding
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// scannable reports whether a media type is one the leak guard reads
// without a filter asking for the body: JSON, form, XML and text.
func scannable(mediaType string) bool {
	switch {
	case mediaType == "application/json", strings.HasSuffix(mediaType, "+json"),
		mediaType == "application/x-www-form-urlencoded",
		mediaType == "application/xml", strings.HasSuffix(mediaType, "+xml"),
		strings.HasPrefix(mediaType, "text/"):
		return true
	}
	return false
}

// multiReadCloser streams a buffered prefix followed by the rest of a body.
type multiReadCloser struct {
	io.Reader
	c io.Closer
}

func (m multiReadCloser) Close() error { return m.c.Close() }

func rejoin(prefix []byte, rest io.ReadCloser) io.ReadCloser {
	return multiReadCloser{Reader: io.MultiReader(bytes.NewReader(prefix), rest), c: rest}
}
