package keys

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxOCSPRequest bounds a POSTed OCSP request: a request for one
// certificate is about 100 bytes.
const maxOCSPRequest = 8 << 10

// How long HTTP caches may keep PKI answers. Revocation answers are kept
// short, since a revoked seal must stop being trusted at once.
const (
	certMaxAge       = "public, max-age=86400"
	revocationMaxAge = "public, max-age=60"
)

// HandleRoot serves the root certificate (DER, application/pkix-cert) at
// PathRoot.
func (r *Responder) HandleRoot() http.HandlerFunc { return certHandler(r.ca.root.Raw) }

// HandleIssuing serves the issuing CA certificate at PathIssuing: the
// caIssuers address in every seal certificate.
func (r *Responder) HandleIssuing() http.HandlerFunc { return certHandler(r.ca.issuing.Raw) }

func certHandler(der []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if !allow(w, req, http.MethodGet, http.MethodHead) {
			return
		}
		w.Header().Set("Content-Type", "application/pkix-cert")
		w.Header().Set("Cache-Control", certMaxAge)
		w.Write(der)
	}
}

// HandleCRL serves the CRL (DER, application/pkix-crl) at PathCRL.
func (r *Responder) HandleCRL() http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if !allow(w, req, http.MethodGet, http.MethodHead) {
			return
		}
		der, err := r.CRL(req.Context())
		if err != nil {
			r.log.Error("CRL unavailable", "err", err)
			http.Error(w, "CRL temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Header().Set("Cache-Control", revocationMaxAge)
		w.Write(der)
	}
}

// HandleOCSP answers OCSP requests (RFC 6960 appendix A): POST with an
// application/ocsp-request body to PathOCSP, or GET with the base64 request
// after "/ocsp/" in the path (url-escaped or not). The router must not clean
// that path: base64 may hold "//".
func (r *Responder) HandleOCSP() http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		var der []byte
		switch req.Method {
		case http.MethodPost:
			if ct := req.Header.Get("Content-Type"); ct != "" && ct != "application/ocsp-request" {
				http.Error(w, "want Content-Type application/ocsp-request", http.StatusUnsupportedMediaType)
				return
			}
			body, ok := readBody(w, req, maxOCSPRequest, "OCSP request")
			if !ok {
				return
			}
			der = body
		case http.MethodGet, http.MethodHead:
			der = ocspFromPath(req.URL.EscapedPath())
		default:
			allow(w, req, http.MethodGet, http.MethodHead, http.MethodPost)
			return
		}
		resp, signed := r.ocspResponse(req.Context(), der)
		switch nonce, _ := requestNonce(der); {
		case signed && req.Method != http.MethodPost && nonce == nil: // only GET answers are cacheable (RFC 5019)
			w.Header().Set("Cache-Control", revocationMaxAge)
		case nonce != nil: // made for that request alone
			w.Header().Set("Cache-Control", "no-store")
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(resp)
	}
}

// ocspFromPath decodes the request of an OCSP GET: what follows the first
// "/ocsp/" in the escaped path. Clients differ in escaping and padding, so
// both base64 alphabets are accepted, with or without "=". A path that does
// not decode yields nil, which the responder answers as malformed.
func ocspFromPath(escaped string) []byte {
	_, enc, ok := strings.Cut(escaped, "/ocsp/")
	if !ok {
		return nil
	}
	enc, err := url.PathUnescape(enc)
	if err != nil {
		return nil
	}
	enc = strings.NewReplacer("-", "+", "_", "/").Replace(strings.TrimRight(enc, "="))
	der, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil {
		return nil
	}
	return der
}

// readBody reads a request body of at most limit bytes, answering 413 or
// 400 (and false) when it cannot.
func readBody(w http.ResponseWriter, req *http.Request, limit int64, what string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, what+" too large", http.StatusRequestEntityTooLarge)
		return nil, false
	case err != nil:
		http.Error(w, "cannot read the request", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// allow answers 405 unless the request uses one of methods.
func allow(w http.ResponseWriter, req *http.Request, methods ...string) bool {
	for _, m := range methods {
		if req.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}
