// Package api is certseal's HTTP face: the platform, reviewers and units
// over a JSON API with API keys, and the public verification pages.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/units"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/signer/batchfile"
	"github.com/certseal/certseal/verify"
)

// PKI serves trust anchors and revocation status (keys.Responder does).
type PKI interface {
	HandleRoot() http.HandlerFunc
	HandleIssuing() http.HandlerFunc
	HandleCRL() http.HandlerFunc
	HandleOCSP() http.HandlerFunc
	// Invalidate drops cached CRL and OCSP answers after a seal change.
	Invalidate()
}

// Verifier answers the public lookups (verify.Service does).
type Verifier interface {
	ByToken(ctx context.Context, number, token string, f verify.Format) (verify.Response, error)
	ByName(ctx context.Context, number, name string, f verify.Format) (verify.Response, error)
	CheckUpload(ctx context.Context, pdf []byte) (verify.UploadAnswer, error)
	// Invalidate drops cached answers; it cannot fail (see verify.Cached).
	Invalidate(ctx context.Context, numbers ...string)
	// PDFByToken is the PDF the verification page offers, if it does.
	PDFByToken(ctx context.Context, number, token string) (registry.Certificate, []byte, error)
	// SESByToken is the 国密 seal signature of the token's version.
	SESByToken(ctx context.Context, number, token string) (registry.Certificate, []byte, error)
	// Receipts: what a verification found, and checks of a receipt.
	ReceiptFacts(ctx context.Context, number, token, name string) (registry.Receipt, string, error)
	CheckReceipt(ctx context.Context, serial string) (verify.ReceiptAnswer, error)
	CheckReceiptJWS(ctx context.Context, jws string) (verify.ReceiptAnswer, error)
}

// Deps is what the API stands on; cmd/certseal builds it.
type Deps struct {
	// Store is read by the handlers and written by the commands through
	// registry.Writing(Store): give the Issuer and the Batches the same
	// Writer, so that the one after-commit hook (refresh) sees their
	// changes too.
	Store    registry.Store
	Keys     keys.KeyManager
	CA       *keys.CA
	SM2      *keys.SM2Twin // the 国密 twin (handlers_ses.go); nil: none
	PKI      PKI
	TSA      http.Handler // RFC 3161 over HTTP (keys.TSA.Handle)
	Issuer   *signer.Issuer
	Batches  *signer.Batches
	Verifier Verifier
	Receipts *signer.Receipts     // nil: no receipts
	Recorder VerificationRecorder // nil: verifications are not recorded
	Metrics  *Metrics
	Log      *slog.Logger
	// AccessLog, if set, writes the access log's INFO lines (Log's handler
	// must then be a plain TextHandler on the same writer).
	AccessLog *TextAccessLog
	BaseURL   string
	KeyAlg    keys.Alg
	Now       func() time.Time
	// Ready are the readiness checks (store, cache).
	Ready map[string]func(context.Context) error
	// PublicRate and PublicBurst limit each client on public routes.
	PublicRate  float64
	PublicBurst int
	// TrustProxy takes the client address from X-Forwarded-For (behind a
	// load balancer that sets it).
	TrustProxy bool
	// LinkKey signs holders' download links (keys.KEK.DownloadLinkKey),
	// which work for LinkTTL.
	LinkKey []byte
	LinkTTL time.Duration
	// TLog is the transparency log; LogKey its verifier key (note form).
	TLog   TransparencyLog
	LogKey string
}

// Body limits. A certificate request carries a photo (2 MiB as base64),
// a seal application an imprint; a batch carries many photos, up to what
// the batch parser takes (so the answer to a bigger one is 413 at once).
const (
	limitSmall  = 64 << 10
	limitPhoto  = 4 << 20
	limitBatch  = batchfile.DefaultMaxBytes
	limitUpload = 10 << 20
)

type server struct {
	Deps
	noting chan struct{} // a slot for each suspected-forgery note being written
	links  downloadLinks
	// The commands the handlers call, one per aggregate.
	certs *signer.Certificates
	seals *keys.Seals
	units *units.Service
}

// New returns the HTTP handler of the whole service.
func New(d Deps) http.Handler {
	s := &server{Deps: d, noting: make(chan struct{}, suspectedForgeryWriters),
		links: downloadLinks{key: d.LinkKey, ttl: d.LinkTTL, base: d.BaseURL},
		certs: signer.NewCertificates(d.Store, d.Issuer),
		seals: keys.NewSeals(d.Store, d.Keys, d.CA, d.KeyAlg, d.BaseURL, d.Now).WithSM2Twin(d.SM2),
		units: units.New(d.Store, d.Now)}
	registry.Writing(d.Store).AfterCommit(s.refresh)
	r := chi.NewRouter()
	// Every GET route answers HEAD too (link checkers, monitors, curl -I).
	r.Use(middleware.GetHead)
	r.NotFound(NotFound)
	r.MethodNotAllowed(MethodNotAllowed)

	r.Get("/healthz", Healthz())
	r.Get("/readyz", Readyz(d.Ready))
	r.Method(http.MethodGet, "/metrics", d.Metrics.Handler())
	r.Get("/api/v1/openapi.json", OpenAPIHandler())

	r.Group(func(r chi.Router) {
		r.Use(RateLimit(d.PublicRate, d.PublicBurst, TrustForwardedFor(d.TrustProxy)))
		r.With(MaxBody(0)).Get("/v/{number}", s.verifyByToken)
		r.With(MaxBody(limitSmall)).Post("/v/{number}", s.downloadByToken) // the page's buttons: PDF, receipt
		r.With(MaxBody(0)).Get("/download/{number}", s.downloadByLink)
		r.With(MaxBody(0)).Get("/v", s.verifyByName)
		// The site's front door is the page to type a number into.
		r.Get("/", http.RedirectHandler("/v", http.StatusFound).ServeHTTP)
		r.With(MaxBody(limitUpload)).Post("/v/pdf", s.verifyUpload)
		r.With(MaxBody(limitSmall)).Post("/v/receipt", s.checkReceiptJWS)
		r.With(MaxBody(limitSmall)).Post("/v/{number}/receipt", s.issueReceipt)
		r.With(MaxBody(0)).Get("/r/{serial}", s.checkReceipt)
		r.With(MaxBody(0)).Get("/r/{serial}/pdf", s.receiptPDF)
		r.Get("/catalog", s.catalogPage)
		r.Get("/api/v1/catalog", s.catalogJSON)
		r.Get("/pki/root.crt", d.PKI.HandleRoot())
		r.Get("/pki/issuing.crt", d.PKI.HandleIssuing())
		r.Get("/pki/crl", d.PKI.HandleCRL())
		r.Get("/pki/ocsp/*", d.PKI.HandleOCSP())
		r.Post("/pki/ocsp", d.PKI.HandleOCSP())
		if d.TLog != nil {
			s.logRoutes(r)
		}
		if d.TSA != nil {
			r.With(MaxBody(limitSmall)).Post(keys.PathTSA, d.TSA.ServeHTTP)
		}
		s.sesPublicRoutes(r)
	})

	r.Route("/api/v1", func(r chi.Router) {
		r.Use(Authenticate(d.Store, d.Now, d.Log), Idempotency(d.Store))
		platform := Require(registry.RolePlatform)
		units := Require(registry.RolePlatform, registry.RoleUnit)
		reviewers := Require(registry.RoleReviewer)
		anyRole := Require(registry.RolePlatform, registry.RoleUnit, registry.RoleReviewer)
		small := MaxBody(limitSmall)

		r.With(platform).Get("/api-keys", s.listAPIKeys)
		r.With(platform, small).Post("/api-keys", s.createAPIKey)
		r.With(platform, small).Post("/api-keys/{id}/revoke", s.revokeAPIKey)

		r.With(platform, small).Post("/units", s.createUnit)
		r.With(anyRole).Get("/units", s.listUnits)
		r.With(anyRole).Get("/units/{unit_id}", s.getUnit)

		r.With(units, small).Post("/units/{unit_id}/filings", s.createFiling)
		r.With(anyRole).Get("/units/{unit_id}/filings", s.listFilings)
		r.With(anyRole).Get("/filings/{id}", s.getFiling)
		r.With(reviewers, small).Post("/filings/{id}/review", s.reviewFiling)
		r.With(units, small).Post("/filings/{id}/withdraw", s.withdrawFiling)
		r.With(anyRole).Get("/filings/expiring", s.listExpiringFilings)
		r.With(anyRole).Get("/reports", s.getReport)
		r.With(Require(registry.RolePlatform, registry.RoleReviewer)).Get("/integrity-records", s.listIntegrityRecords)

		r.With(units, MaxBody(limitPhoto)).Post("/units/{unit_id}/seal-applications", s.createSealApplication)
		r.With(anyRole).Get("/seal-applications/{id}", s.getSealApplication)
		r.With(reviewers, small).Post("/seal-applications/{id}/review", s.reviewSealApplication)
		r.With(units, small).Post("/seal-applications/{id}/withdraw", s.withdrawSealApplication)
		r.With(anyRole).Get("/units/{unit_id}/seals", s.listSeals)
		r.With(units, small).Post("/seals/{id}/revoke", s.revokeSeal)

		r.With(units, MaxBody(limitPhoto)).Post("/certificates", s.issueCertificate)
		r.With(units).Get("/certificates", s.listCertificates)
		r.With(platform).Get("/holder-certificates", s.holderCertificates)
		r.With(units, MaxBody(limitBatch)).Post("/certificate-batches", s.createBatch)
		r.With(units).Get("/certificate-batches/{id}", s.getBatch)
		r.With(units).Get("/certificate-batches/{id}/rows", s.getBatchRows)
		r.With(units).Get("/certificates/{number}", s.getCertificate)
		r.With(units).Get("/certificates/{number}/pdf", s.getCertificatePDF)
		r.With(platform).Get("/certificates/{number}/ses", s.getCertificateSES)
		r.With(units, small).Post("/certificates/{number}/revoke", s.revokeCertificate)
		r.With(units, MaxBody(limitPhoto)).Post("/certificates/{number}/reissue", s.reissueCertificate)
		r.With(platform).Get("/certificates/{number}/verifications", s.listVerifications)
		r.With(platform, small).Post("/certificates/{number}/rotate-token", s.rotateToken)
	})
	h := plumbing{log: d.Log, text: d.AccessLog, metrics: d.Metrics, now: d.Now}.wrap(r)
	h.serveDirect("/v/{number}") // every QR scan
	return h
}
