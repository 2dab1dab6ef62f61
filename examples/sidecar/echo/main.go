// Command echo is the tiny upstream of the sidecar example: it prints what it
// received (as the merchant's app would see it) and answers it back as JSON.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18000", "listen address")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		fmt.Fprintf(os.Stderr, "echo: %s %s X-Forwarded-For=%s body=%s\n", r.Method, r.URL.RequestURI(), r.Header.Get("X-Forwarded-For"), body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "received": string(body),
		})
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
