module github.com/certseal/certseal

go 1.26.8

require (
	github.com/digitorus/pdf v0.1.2
	github.com/digitorus/pdfsign v0.0.0-20250819064552-5f74f69dda1d
	github.com/digitorus/pkcs7 v0.0.0-20230818184609-3a137a874352
	github.com/digitorus/timestamp v0.0.0-20231217203849-220c5c2851b7
	github.com/emmansun/gmsm v0.15.5
	github.com/go-chi/chi/v5 v5.5.0
	github.com/jackc/pgx/v5 v5.12.0
	github.com/prometheus/client_golang v1.25.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/signintech/gopdf v0.33.0
	github.com/skip2/go-qrcode v0.0.0-20200617195104-da1b6568686e
	github.com/xuri/excelize/v2 v2.11.1
	golang.org/x/crypto v0.59.0
	golang.org/x/image v0.44.0
	golang.org/x/mod v0.43.0
	golang.org/x/text v0.44.0
	modernc.org/sqlite v1.62.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/mattetti/filebuffer v1.0.1 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/phpdave11/gofpdi v1.0.14-0.20211212211723-1f10f9844311 // indirect
	github.com/pkg/errors v0.8.1 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/richardlehane/mscfb v1.0.9 // indirect
	github.com/richardlehane/msoleps v1.0.6 // indirect
	github.com/tiendc/go-deepcopy v1.7.2 // indirect
	github.com/xuri/efp v0.0.3-0.20260924042702-217b81952dec // indirect
	github.com/xuri/nfp v0.0.2-0.20250530014748-2ddeb826f9a9 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)

// A copy of pdfsign at the pinned commit with five patches: the appearance
// image is decoded and compressed once per seal version (sign.PrepareImage)
// instead of on every signature, which took half the CPU of a certificate;
// the time-stamp token can come from certseal's TSA in process; the
// signed revision can carry a Document Security Store; upstream's later
// fix of the EOL before the appearance stream's endstream; and the signer's
// chain is not re-verified on every signature.
// See internal/third_party/pdfsign/PATCHES.md.
replace github.com/digitorus/pdfsign => ./internal/third_party/pdfsign

// A copy of gopdf v0.33.0 whose embedded font subset is compressed at the
// level SetCompressLevel sets (upstream: always the default level, a quarter
// of a certificate's CPU) and holds only the glyphs drawn, renumbered 0..n
// (upstream: loca and hmtx for every glyph of the font, two thirds of the
// stream). See internal/third_party/gopdf/PATCHES.md.
replace github.com/signintech/gopdf => ./internal/third_party/gopdf

// A copy of digitorus/pkcs7 at the pinned commit that checks a signer
// chain's certificate pairs once, not on every time-stamp token. See
// internal/third_party/pkcs7/PATCHES.md.
replace github.com/digitorus/pkcs7 => ./internal/third_party/pkcs7

// A copy of go-qrcode at the pinned commit whose Reed-Solomon bytes come
// from a shift register instead of a polynomial division that allocated at
// every step, and whose mask is chosen on one symbol built once, scored 64
// modules at a time, instead of 8 symbols built and scored module by module
// (the same symbols). See internal/third_party/go-qrcode/PATCHES.md.
replace github.com/skip2/go-qrcode => ./internal/third_party/go-qrcode
