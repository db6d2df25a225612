// Command bare serves fixed bytes from a bare chi handler on the
// verification route: the yardstick the real page's throughput is compared
// with. It prints "listening on http://ADDR" once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	bodyFile := flag.String("body", "", "file with the bytes to answer (the real page, fetched once)")
	ctype := flag.String("content-type", "text/html; charset=utf-8", "Content-Type of the answer")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	r := chi.NewRouter()
	// The same headers as the real page, nothing else.
	r.Get("/v/{number}", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", *ctype)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Robots-Tag", "noindex")
		w.Write(body)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, r))
}
