package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

// ListingSize is how many certificates BenchmarkListing fills a store
// with: a province's few years of certificates.
const ListingSize = 100_000

// Benchmark names the store's listing benchmarks run on: a backend's
// BenchmarkCertificateListing fills one store and runs them all.
var listingCases = []struct {
	name string
	q    func(units []registry.Unit, afterID int64) registry.CertFilter
}{
	// What a unit asks most: its valid certificates of one series.
	{"unit+series+valid", func(u []registry.Unit, _ int64) registry.CertFilter {
		return registry.CertFilter{UnitID: u[3].ID, Series: benchSeries[2], Status: registry.CertValid}
	}},
	// The same, deep into the listing (the cursor near the end).
	{"unit+series+valid/deep", func(u []registry.Unit, after int64) registry.CertFilter {
		return registry.CertFilter{UnitID: u[3].ID, Series: benchSeries[2], Status: registry.CertValid, Page: registry.Page{AfterID: after}}
	}},
	// A holder's certificates across units, by the keyed hash.
	{"holder", func(_ []registry.Unit, _ int64) registry.CertFilter {
		return registry.CertFilter{HolderIDNumber: benchHolder(4242)}
	}},
	{"batch", func(_ []registry.Unit, _ int64) registry.CertFilter { return registry.CertFilter{BatchID: 777} }},
	// The platform: a level issued within a month, in every unit.
	{"level+issued-month", func(_ []registry.Unit, _ int64) registry.CertFilter {
		return registry.CertFilter{Level: "正高级", IssuedSince: benchStart.AddDate(0, 6, 0), IssuedUntil: benchStart.AddDate(0, 7, 0)}
	}},
	// Something rare: one unit's revoked certificates of one level.
	{"unit+level+revoked", func(u []registry.Unit, _ int64) registry.CertFilter {
		return registry.CertFilter{UnitID: u[7].ID, Level: "员级", Status: registry.CertRevoked}
	}},
}

var (
	benchSeries = []string{"高校教师", "卫生", "工程", "图书资料", "会计"}
	benchStart  = time.Date(2024, 1, 1, 9, 0, 0, 0, registry.ChinaTZ)
)

func benchHolder(n int) string { return fmt.Sprintf("3701021980%08d", n) }

// BenchmarkListing fills s with ListingSize certificates of 10 units (in
// bulk, not one transaction each), then measures one page of 100 of each
// listing case, as GET /api/v1/certificates asks it: newest versions, ID
// numbers opened, no photo.
func BenchmarkListing(b *testing.B, s RawStore) {
	ctx := context.Background()
	units := fillListing(b, s)
	var last []registry.Certificate
	must(b, s.View(ctx, func(tx registry.Tx) (err error) {
		last, err = tx.ListCertificates(ctx, registry.CertFilter{UnitID: units[3].ID, Series: benchSeries[2], Status: registry.CertValid,
			Page: registry.Page{AfterID: ListingSize * 9 / 10, Limit: 1}})
		return err
	}))
	if len(last) == 0 {
		b.Fatal("nothing deep in the listing")
	}
	on := registry.Today(benchStart.AddDate(2, 0, 0))
	for _, bc := range listingCases {
		q := bc.q(units, last[0].RowID-1)
		q.LatestOnly, q.WithoutPhoto, q.On, q.Limit = true, true, on, 100
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				must(b, s.View(ctx, func(tx registry.Tx) error {
					page, err := tx.ListCertificates(ctx, q)
					n = len(page)
					return err
				}))
			}
			if n == 0 {
				b.Fatalf("%s: an empty page measures nothing", bc.name)
			}
			b.ReportMetric(float64(n), "rows/page")
		})
	}
}

// fillListing writes the certificates with multi-row INSERTs: through the
// store's Tx they would take minutes, and what is measured is the read.
func fillListing(b *testing.B, s RawStore) []registry.Unit {
	b.Helper()
	ctx := context.Background()
	var units []registry.Unit
	var seals []registry.Seal
	must(b, s.InTx(ctx, func(tx registry.Tx) error {
		for i := range 10 {
			u := registry.Unit{Name: fmt.Sprintf("单位%d", i), USCC: fmt.Sprintf("9137000000000%05d", i), Jurisdiction: "威海市", CreatedAt: benchStart}
			if err := tx.CreateUnit(ctx, &u); err != nil {
				return err
			}
			seal := registry.Seal{UnitID: u.ID, Version: 1, State: registry.SealActive, ImprintPNG: []byte("p"), KeyBlob: []byte("k"),
				CertDER: []byte("d"), Serial: fmt.Sprintf("bench-%d", i), CreatedAt: benchStart}
			if err := tx.CreateSeal(ctx, &seal); err != nil {
				return err
			}
			units, seals = append(units, u), append(seals, seal)
		}
		return nil
	}))
	p := PII()
	photo := p.Seal([]byte("jpeg"))
	const cols = 19
	const perInsert = 500
	levels := registry.Levels
	for start := 0; start < ListingSize; start += perInsert {
		var rows []string
		var args []any
		for i := start; i < start+perInsert && i < ListingSize; i++ {
			u := i % len(units)
			id := benchHolder(i / 2) // two certificates a holder
			a := registry.Appointment{UnitID: units[u].ID, Name: "王五", Gender: registry.Male, Series: benchSeries[(i/10)%len(benchSeries)],
				Level: levels[(i/50)%len(levels)], TermFrom: registry.Date{Year: 2024, Month: 1, Day: 1}, TermTo: registry.Date{Year: 2027, Month: 12, Day: 31}}
			state := registry.CertValid
			switch (i / 7) % 19 { // 19 and 7: across units, as i%10 is the unit
			case 0:
				state = registry.CertRevoked
			case 1, 2, 3:
				a.TermTo = registry.Date{Year: 2025, Month: 6, Day: 30} // expired by the day asked about
			}
			appointment, err := json.Marshal(a) // no personal data in it, as the store keeps it
			must(b, err)
			number, err := registry.FormatCertNumber(2024, int64(i+1))
			must(b, err)
			marks := make([]string, cols)
			for c := range marks {
				marks[c] = fmt.Sprintf("$%d", len(args)+c+1)
			}
			rows = append(rows, "("+strings.Join(marks, ", ")+")")
			args = append(args, number, 1, units[u].ID, a.Name, string(appointment), p.Seal([]byte(id)), photo, []byte(number), string(state),
				seals[u].ID, 1, benchStart.Add(time.Duration(i)*5*time.Minute).UnixMicro(), []byte("pdf "+number), []byte("dedup "+number),
				int64(i/100), a.Series, string(a.Level), a.TermTo.String(), p.HolderHash(id))
		}
		must(b, s.Exec(ctx, `INSERT INTO certificates (number, version, unit_id, name, appointment_json, id_number_sealed, photo_sealed,
			token_hash, state, seal_id, seal_version, issued_at, pdf_sha256, dedup_key, batch_id, series, level, term_to, holder_hash)
			VALUES `+strings.Join(rows, ", "), args...))
	}
	// As a database that has run a while has them: the planner's
	// statistics (the same statement on both backends).
	must(b, s.Exec(ctx, `ANALYZE certificates`))
	return units
}
