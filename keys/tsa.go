package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// File names of the time-stamping authority's certificate and key inside
// the PKI directory, where certseal creates them on first start.
const (
	TSACertFile = "tsa.crt" // PEM
	TSAKeyFile  = "tsa.key" // PEM PKCS#8, mode 0600
)

// PathTSA is where the TSA answers RFC 3161 requests over HTTP.
const PathTSA = "/tsa"

// TSAPolicy is the policy every token names: the ETSI baseline time-stamp
// policy (EN 319 421, 0.4.0.2023.1.1), whose accuracy (one second) and
// clock certseal keeps. A request naming another policy is refused.
var TSAPolicy = asn1.ObjectIdentifier{0, 4, 0, 2023, 1, 1}

var (
	oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidExtKeyUsage  = asn1.ObjectIdentifier{2, 5, 29, 37}
)

// maxTSARequest bounds a POSTed time-stamp request: one with a SHA-512
// imprint, a nonce and a policy is about 120 bytes.
const maxTSARequest = 8 << 10

// TSA is certseal's RFC 3161 time-stamping authority: its own key and a
// certificate from the platform's issuing CA with the critical extended
// key usage timeStamping alone (RFC 3161, 2.3). The signer stamps every
// signature in process through Stamp; outside clients POST to PathTSA.
// Safe for concurrent use.
type TSA struct {
	cert  *x509.Certificate
	chain []*x509.Certificate // issuing CA: shipped in tokens so validators need only the root
	key   crypto.Signer
	now   func() time.Time
	log   *slog.Logger
}

// OpenTSA loads the TSA from certFile and keyFile. Where both are missing
// and create is set, it makes a new P-256 key and has ca certify it (its
// CRL address under baseURL); an inspecting command passes create=false
// and gets an fs.ErrNotExist error instead. Either way it refuses a
// certificate not issued by ca, not fit for time-stamping, or not matching
// the key. now is the clock (nil: time.Now).
func OpenTSA(certFile, keyFile string, ca *CA, baseURL string, create bool, logger *slog.Logger, now func() time.Time) (*TSA, error) {
	if now == nil {
		now = time.Now
	}
	cert, key, err := openLeaf(leafFiles{what: "time-stamping authority", certFile: certFile, keyFile: keyFile,
		variables: "CERTSEAL_TSA_CERT, CERTSEAL_TSA_KEY", create: create}, logger, now, func(now time.Time) error {
		return createTSA(certFile, keyFile, ca, baseURL, now)
	})
	if err != nil {
		return nil, err
	}
	t := &TSA{cert: cert, chain: []*x509.Certificate{ca.issuing}, key: key, now: now, log: orDiscard(logger)}
	if err := t.check(ca); err != nil {
		return nil, fmt.Errorf("time-stamping authority %s: %w", certFile, err)
	}
	return t, nil
}

func (t *TSA) check(ca *CA) error {
	if !publicKeysEqual(t.key.Public(), t.cert.PublicKey) {
		return ErrKeyMismatch
	}
	if err := t.cert.CheckSignatureFrom(ca.issuing); err != nil {
		return fmt.Errorf("not issued by the platform's issuing CA: %w", err)
	}
	if err := TimestampingCert(t.cert); err != nil {
		return err
	}
	if _, err := t.cert.Verify(x509.VerifyOptions{
		Roots: ca.roots, Intermediates: ca.inter, CurrentTime: t.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	}); err != nil {
		return fmt.Errorf("does not chain to the platform root now: %w", err)
	}
	return nil
}

// TimestampingCert checks what RFC 3161 (2.3) asks of a TSA's certificate:
// the extended key usage extension is critical and names timeStamping only.
func TimestampingCert(c *x509.Certificate) error {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			if !e.Critical {
				return errors.New("the TSA certificate's extended key usage is not critical")
			}
			if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(c.UnknownExtKeyUsage) != 0 {
				return errors.New("the TSA certificate's extended key usage is not timeStamping alone")
			}
			return nil
		}
	}
	return errors.New("the TSA certificate has no extended key usage")
}

// createTSA writes a new TSA key and its certificate. The certificate runs
// as long as the issuing CA does: a timestamp is checked at its own time,
// and the archive keeps certificates ten years.
func createTSA(certFile, keyFile string, ca *CA, baseURL string, now time.Time) error {
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		return err
	}
	return createLeaf(certFile, keyFile, ca, baseURL, now, &x509.Certificate{
		Subject:  pkix.Name{Country: []string{"CN"}, Organization: ca.issuing.Subject.Organization, CommonName: "certseal time-stamping authority"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		// Go marks the extended key usage it writes non-critical; RFC 3161
		// requires it critical, so it is written by hand.
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	})
}

// Certificate is the TSA's certificate.
func (t *TSA) Certificate() *x509.Certificate { return t.cert }

// Stamp answers a DER TimeStampReq with a DER TimeStampResp. Requests it
// will not serve get a rejection response, not an error; an error means
// the TSA could not sign.
func (t *TSA) Stamp(_ context.Context, reqDER []byte) ([]byte, error) {
	req, err := timestamp.ParseRequest(reqDER)
	if err != nil {
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadDataFormat)
	}
	switch {
	case !tsaHashes[req.HashAlgorithm] || len(req.HashedMessage) != req.HashAlgorithm.Size():
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadAlgorithm)
	case len(req.TSAPolicyOID) > 0 && !req.TSAPolicyOID.Equal(TSAPolicy):
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.UnacceptedPolicy)
	case len(req.Extensions) > 0:
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.UnacceptedExtension)
	}
	ts := timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     req.HashedMessage,
		Time:              t.now().UTC().Truncate(time.Second),
		Accuracy:          time.Second,
		Policy:            TSAPolicy,
		Nonce:             req.Nonce,
		AddTSACertificate: req.Certificates,
	}
	if req.Certificates {
		ts.Certificates = t.chain
	}
	resp, err := ts.CreateResponseWithOpts(t.cert, t.key, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("time-stamp: sign: %w", err)
	}
	return resp, nil
}

var tsaHashes = map[crypto.Hash]bool{crypto.SHA256: true, crypto.SHA384: true, crypto.SHA512: true}

// Handle serves RFC 3161 over HTTP (section 3.4): POST a DER
// application/timestamp-query, get an application/timestamp-reply.
func (t *TSA) Handle() http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if !allow(w, req, http.MethodPost) {
			return
		}
		if ct := req.Header.Get("Content-Type"); ct != "application/timestamp-query" {
			http.Error(w, "want Content-Type application/timestamp-query", http.StatusUnsupportedMediaType)
			return
		}
		body, ok := readBody(w, req, maxTSARequest, "time-stamp request")
		if !ok {
			return
		}
		resp, err := t.Stamp(req.Context(), body)
		if err != nil {
			t.log.Error("time-stamp failed", "err", err)
			http.Error(w, "time-stamping temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(resp)
	}
}

// TSAClient asks an outside RFC 3161 authority over HTTP: the operator's
// choice instead of certseal's own TSA.
type TSAClient struct {
	URL  string
	HTTP *http.Client // nil: a client with a 10 s timeout
}

// Stamp posts reqDER to the authority and returns its DER response.
func (c TSAClient) Stamp(ctx context.Context, reqDER []byte) ([]byte, error) {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(reqDER))
	if err != nil {
		return nil, fmt.Errorf("time-stamp authority %s: %w", c.URL, err)
	}
	req.Header.Set("Content-Type", "application/timestamp-query")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("time-stamp authority %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("time-stamp authority %s: read the answer: %w", c.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("time-stamp authority %s answered %s", c.URL, resp.Status)
	}
	return body, nil
}

// TimestampTrust is what a timestamp token's TSA must chain to: the
// platform root (certseal's own TSA) and any roots of an outside TSA the
// operator configured.
type TimestampTrust struct {
	Roots         []*x509.Certificate
	Intermediates []*x509.Certificate
	// Chains, when set, remembers the TSA chains found to hold, for a
	// caller that checks many tokens of the same few TSAs (the signer's
	// self-check, the verifier): building the chain was a third of
	// checking a token. Nil builds it every time.
	Chains *ChainMemo
}

// VerifiedTimestamp is what a checked token proves: message existed at Time.
type VerifiedTimestamp struct {
	Time time.Time
	TSA  *x509.Certificate
}

// Errors of CheckTimestampToken, for callers that say which part failed.
var (
	ErrTimestampFormat  = errors.New("the time-stamp token does not parse or its signature does not verify")
	ErrTimestampImprint = errors.New("the time-stamp token is over other data")
	ErrTimestampChain   = errors.New("the time-stamp authority does not chain to a trusted root")
)

// CheckTimestampToken checks a DER TimeStampToken over message: the TSA's
// signature, that the imprint is message's digest, and that the signer is
// a time-stamping certificate chaining to trust at the token's time. The
// token is parsed once (digitorus/pkcs7 checks the chain of the shipped
// certificates as it parses, so every parse costs signature checks).
func CheckTimestampToken(token, message []byte, trust TimestampTrust) (vt VerifiedTimestamp, err error) {
	// The token is outside input (an uploaded PDF's), and digitorus/pkcs7
	// is not known never to panic on malformed BER.
	defer func() {
		if p := recover(); p != nil {
			vt, err = VerifiedTimestamp{}, fmt.Errorf("%w: %.200v", ErrTimestampFormat, p)
		}
	}()
	// Only DER, and not too much of it: digitorus/pkcs7 converts BER
	// itself, which is where hostile input costs most.
	var outer asn1.RawValue
	if len(token) > maxTokenBytes {
		return VerifiedTimestamp{}, fmt.Errorf("%w: %d bytes, more than %d", ErrTimestampFormat, len(token), maxTokenBytes)
	}
	if rest, err := asn1.Unmarshal(token, &outer); err != nil || len(rest) > 0 {
		return VerifiedTimestamp{}, fmt.Errorf("%w: not one DER value (%v)", ErrTimestampFormat, err)
	}
	p7, err := pkcs7.Parse(token)
	if err != nil {
		return VerifiedTimestamp{}, fmt.Errorf("%w: %v", ErrTimestampFormat, err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return VerifiedTimestamp{}, fmt.Errorf("%w: the token does not carry its TSA's certificate", ErrTimestampFormat)
	}
	if err := p7.Verify(); err != nil {
		return VerifiedTimestamp{}, fmt.Errorf("%w: %v", ErrTimestampFormat, err)
	}
	var info tstInfo
	if rest, err := asn1.Unmarshal(p7.Content, &info); err != nil || len(rest) > 0 {
		return VerifiedTimestamp{}, fmt.Errorf("%w: TSTInfo: %v", ErrTimestampFormat, err)
	}
	h, ok := tstHashes[info.MessageImprint.HashAlgorithm.Algorithm.String()]
	if !ok {
		return VerifiedTimestamp{}, fmt.Errorf("%w: imprint hash %v is not accepted", ErrTimestampImprint, info.MessageImprint.HashAlgorithm.Algorithm)
	}
	d := h.New()
	d.Write(message)
	if !bytes.Equal(d.Sum(nil), info.MessageImprint.HashedMessage) {
		return VerifiedTimestamp{}, ErrTimestampImprint
	}
	if err := verifyTSAChain(signer, trust, p7.Certificates, info.Time); err != nil {
		return VerifiedTimestamp{}, fmt.Errorf("%w: %v", ErrTimestampChain, err)
	}
	// Go's Verify lets a certificate without any extended key usage (or
	// with anyExtendedKeyUsage) pass for timeStamping; a TSA must have it
	// critical and alone, or any certificate under the root could date
	// documents.
	if err := TimestampingCert(signer); err != nil {
		return VerifiedTimestamp{}, fmt.Errorf("%w: %v", ErrTimestampChain, err)
	}
	if err := essBinding(p7, signer); err != nil {
		return VerifiedTimestamp{}, fmt.Errorf("%w: %v", ErrTimestampFormat, err)
	}
	return VerifiedTimestamp{Time: info.Time.UTC(), TSA: signer}, nil
}

// ChainMemo holds the TSA certificates found to chain to a trust, by the
// SHA-256 of the certificate, the roots and the intermediates offered
// (tsaChainKey): the time for which the chain holds (its certificates'
// common validity) is all that differs from one token of a TSA to the
// next. A few dozen at most; the zero value is ready for use.
type ChainMemo struct {
	mu    sync.Mutex
	valid map[string]validity
}

type validity struct{ from, until time.Time }

// lookup is whether the memo knows signer's chain (by key) to hold at t.
func (m *ChainMemo) lookup(key string, t time.Time) bool {
	m.mu.Lock()
	v, ok := m.valid[key]
	m.mu.Unlock()
	return ok && !t.Before(v.from) && !t.After(v.until)
}

// store remembers a chain that held, forgetting all once there are
// maxTSAChains (they are rebuilt on their next token).
func (m *ChainMemo) store(key string, v validity) {
	m.mu.Lock()
	if m.valid == nil || len(m.valid) >= maxTSAChains {
		m.valid = map[string]validity{}
	}
	m.valid[key] = v
	m.mu.Unlock()
}

const maxTSAChains = 64

// verifyTSAChain is whether signer chains to trust's roots at t for time
// stamping, through trust's intermediates and shipped.
func verifyTSAChain(signer *x509.Certificate, trust TimestampTrust, shipped []*x509.Certificate, t time.Time) error {
	var key string
	if trust.Chains != nil {
		key = tsaChainKey(signer, trust, shipped)
		if trust.Chains.lookup(key, t) {
			return nil
		}
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range trust.Roots {
		roots.AddCert(c)
	}
	for _, c := range append(slices.Clone(trust.Intermediates), shipped...) {
		inter.AddCert(c)
	}
	chains, err := signer.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: t,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	})
	if err != nil {
		return err
	}
	if trust.Chains != nil {
		v := validity{from: signer.NotBefore, until: signer.NotAfter}
		for _, c := range chains[0] {
			v.from, v.until = maxTime(v.from, c.NotBefore), minTime(v.until, c.NotAfter)
		}
		trust.Chains.store(key, v)
	}
	return nil
}

func tsaChainKey(signer *x509.Certificate, trust TimestampTrust, shipped []*x509.Certificate) string {
	h := sha256.New()
	for _, group := range [][]*x509.Certificate{{signer}, trust.Roots, trust.Intermediates, shipped} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(group)))) // a certificate moved between groups is another key
		for _, c := range group {
			sum := sha256.Sum256(c.Raw)
			h.Write(sum[:])
		}
	}
	return string(h.Sum(nil))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// essBinding checks the signed attribute that names the TSA's certificate
// (RFC 5035 signingCertificateV2, or RFC 2634 signingCertificate): RFC
// 3161 requires one, and it ties the signature to that certificate rather
// than to whatever the token ships.
func essBinding(p7 *pkcs7.PKCS7, signer *x509.Certificate) error {
	var v2 struct {
		Certs []struct {
			HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
			CertHash      []byte
			IssuerSerial  asn1.RawValue `asn1:"optional"`
		}
		Policies asn1.RawValue `asn1:"optional"`
	}
	if err := p7.UnmarshalSignedAttribute(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}, &v2); err == nil && len(v2.Certs) > 0 {
		h := crypto.SHA256 // the default (RFC 5035)
		if alg := v2.Certs[0].HashAlgorithm.Algorithm; len(alg) > 0 {
			var ok bool
			if h, ok = tstHashes[alg.String()]; !ok {
				return fmt.Errorf("signingCertificateV2 hash %v is not accepted", alg)
			}
		}
		d := h.New()
		d.Write(signer.Raw)
		if !bytes.Equal(d.Sum(nil), v2.Certs[0].CertHash) {
			return errors.New("signingCertificateV2 names another certificate than the signer's")
		}
		return nil
	}
	var v1 struct {
		Certs []struct {
			CertHash     []byte
			IssuerSerial asn1.RawValue `asn1:"optional"`
		}
		Policies asn1.RawValue `asn1:"optional"`
	}
	if err := p7.UnmarshalSignedAttribute(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}, &v1); err == nil && len(v1.Certs) > 0 {
		sum := sha1.Sum(signer.Raw)
		if !bytes.Equal(sum[:], v1.Certs[0].CertHash) {
			return errors.New("signingCertificate names another certificate than the signer's")
		}
		return nil
	}
	return errors.New("the token has no signingCertificate attribute naming its TSA's certificate")
}

// maxTokenBytes bounds a time-stamp token: certseal's are about 1.5 KB.
const maxTokenBytes = 32 << 10

// tstInfo is RFC 3161's TSTInfo, as far as a check needs it.
type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		HashedMessage []byte
	}
	SerialNumber *big.Int
	Time         time.Time        `asn1:"generalized"`
	Accuracy     asn1.RawValue    `asn1:"optional"`
	Ordering     bool             `asn1:"optional,default:false"`
	Nonce        *big.Int         `asn1:"optional"`
	TSA          asn1.RawValue    `asn1:"tag:0,optional"`
	Extensions   []pkix.Extension `asn1:"tag:1,optional"`
}

var tstHashes = map[string]crypto.Hash{
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}
