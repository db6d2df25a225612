package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/units"
	"github.com/certseal/certseal/registry/workday"
)

// Report is what reviewers and the platform see of a jurisdiction or a
// unit: certificates issued per month, late submissions, revocations by
// reason, filings in force and expiring.
type Report struct {
	GeneratedAt  time.Time         `json:"generated_at"`
	Jurisdiction string            `json:"jurisdiction,omitempty"`
	UnitID       int64             `json:"unit_id,omitempty"`
	Issued       []IssuedLine      `json:"issued_per_month"`
	Late         []LateLine        `json:"late_submissions"`
	Revocations  []RevocationLine  `json:"revocations_by_reason"`
	Filings      []FilingStateLine `json:"filings"`
}

type IssuedLine struct {
	Unit   string `json:"unit"`
	Month  string `json:"month"` // YYYY-MM, China time
	Issued int    `json:"issued"`
}

type LateLine struct {
	Unit   string `json:"unit"`
	Number string `json:"number"`
	// information (15 working days), result_filing (5), or unchecked: the
	// working-day calendar lacked a year when it came in.
	Deadline     string        `json:"deadline"`
	From         registry.Date `json:"from"`
	Done         registry.Date `json:"done"`
	WorkdaysOver int           `json:"workdays_over"`
}

type RevocationLine struct {
	Unit     string                  `json:"unit"`
	Category registry.RevokeCategory `json:"category"`
	Count    int                     `json:"count"`
}

type FilingStateLine struct {
	Unit       string        `json:"unit"`
	Series     string        `json:"series"`
	Specialty  string        `json:"specialty"`
	ValidUntil registry.Date `json:"valid_until"`
	Expiring   bool          `json:"expiring"` // within the next 90 days: time to renew
}

// reportScope is what the caller may see: a reviewer its jurisdiction, a
// unit itself, the platform what it asks for. A unit the caller may not
// see is "not found", as everywhere.
func (s *server) reportScope(r *http.Request) (jurisdiction string, unitID int64, err error) {
	p := principal(r)
	q := r.URL.Query()
	jurisdiction = q.Get("jurisdiction")
	if v := q.Get("unit_id"); v != "" {
		if unitID, err = strconv.ParseInt(v, 10, 64); err != nil || unitID <= 0 {
			return "", 0, registry.FieldErr("unit_id", "must be a unit id")
		}
	}
	switch p.Role {
	case registry.RoleReviewer:
		if jurisdiction != "" && jurisdiction != p.Jurisdiction {
			return "", 0, registry.NotFound("jurisdiction", jurisdiction)
		}
		jurisdiction = p.Jurisdiction
	case registry.RoleUnit:
		if unitID == 0 {
			unitID = p.UnitID
		}
	}
	if unitID != 0 {
		err = s.Store.View(r.Context(), func(tx registry.Tx) error {
			_, err := units.Visible(r.Context(), tx, caller(r), unitID)
			return err
		})
	}
	return jurisdiction, unitID, err
}

// scopedReport is the report of what the caller may see; without
// certificates it holds only the filings (and reads no certificate).
func (s *server) scopedReport(r *http.Request, certificates bool) (Report, error) {
	jurisdiction, unitID, err := s.reportScope(r)
	if err != nil {
		return Report{}, err
	}
	return s.buildReport(r.Context(), jurisdiction, unitID, certificates)
}

func (s *server) buildReport(ctx context.Context, jurisdiction string, unitID int64, certificates bool) (Report, error) {
	now := s.Now()
	today := registry.Today(now)
	rep := Report{GeneratedAt: now, Jurisdiction: jurisdiction, UnitID: unitID}
	units := map[int64]registry.Unit{}
	issued := map[[2]string]int{}
	revoked := map[[2]string]int{}
	err := s.Store.View(ctx, func(tx registry.Tx) error {
		for after := int64(0); ; {
			page, err := tx.ListUnits(ctx, "", registry.Page{AfterID: after, Limit: 1000})
			if err != nil {
				return err
			}
			for _, u := range page {
				if (jurisdiction == "" || u.Jurisdiction == jurisdiction) && (unitID == 0 || u.ID == unitID) {
					units[u.ID] = u
				}
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].ID
		}
		if unitID != 0 && len(units) == 0 {
			return registry.NotFound("unit", unitID)
		}
		for id, u := range units {
			for after := int64(0); certificates; {
				certs, err := tx.ListCertificates(ctx, registry.CertFilter{UnitID: id, WithoutPersonalData: true, Page: registry.Page{AfterID: after, Limit: 1000}})
				if err != nil {
					return err
				}
				for _, c := range certs {
					a := c.Appointment
					if c.Version == 1 { // a correction is not another issuance
						issued[[2]string{u.Name, c.IssuedAt.In(registry.ChinaTZ).Format("2006-01")}]++
					}
					if c.State == registry.CertRevoked {
						revoked[[2]string{u.Name, string(c.Category)}]++
					}
					if c.State == registry.CertSuperseded {
						continue // a correction carries the same days on
					}
					if a.LatenessUnchecked != "" {
						rep.Late = append(rep.Late, LateLine{u.Name, c.Number, "unchecked", a.AppointedOn, a.SubmittedOn, 0})
					}
					if a.InfoLateWorkdays > 0 {
						rep.Late = append(rep.Late, LateLine{u.Name, c.Number, "information", a.AppointedOn, a.SubmittedOn, a.InfoLateWorkdays})
					}
					if a.ResultLateWorkdays > 0 {
						rep.Late = append(rep.Late, LateLine{u.Name, c.Number, "result_filing", a.AppraisalEndedOn, a.ResultFiledOn, a.ResultLateWorkdays})
					}
				}
				if len(certs) < 1000 {
					break
				}
				after = certs[len(certs)-1].RowID
			}
			filings, err := tx.ListFilings(ctx, registry.FilingFilter{UnitID: id, InForceOn: today})
			if err != nil {
				return err
			}
			for _, f := range filings {
				rep.Filings = append(rep.Filings, FilingStateLine{u.Name, f.Series, f.Specialty, f.ValidUntil, workday.ExpiringSoon(f.ValidUntil, today)})
			}
		}
		return nil
	})
	for k, n := range issued {
		rep.Issued = append(rep.Issued, IssuedLine{k[0], k[1], n})
	}
	for k, n := range revoked {
		rep.Revocations = append(rep.Revocations, RevocationLine{k[0], registry.RevokeCategory(k[1]), n})
	}
	sort.Slice(rep.Issued, func(i, j int) bool {
		return rep.Issued[i].Unit+rep.Issued[i].Month < rep.Issued[j].Unit+rep.Issued[j].Month
	})
	sort.Slice(rep.Revocations, func(i, j int) bool {
		return rep.Revocations[i].Unit+string(rep.Revocations[i].Category) < rep.Revocations[j].Unit+string(rep.Revocations[j].Category)
	})
	sort.Slice(rep.Late, func(i, j int) bool {
		a, b := rep.Late[i], rep.Late[j]
		return a.Number < b.Number || a.Number == b.Number && a.Deadline < b.Deadline
	})
	sort.Slice(rep.Filings, func(i, j int) bool { return rep.Filings[i].ValidUntil.Before(rep.Filings[j].ValidUntil) })
	return rep, err
}

// tables is the report as named tables, for CSV and XLSX.
func (rep Report) tables() []reportTable {
	t := []reportTable{
		{"issued", []string{"单位 unit", "月份 month", "签发 issued"}, nil},
		{"late", []string{"单位 unit", "证书编号 number", "时限 deadline", "起算日 from", "报送日 done", "超出工作日 workdays_over"}, nil},
		{"revocations", []string{"单位 unit", "原因 category", "数量 count"}, nil},
		{"filings", []string{"单位 unit", "职称系列 series", "专业 specialty", "有效期至 valid_until", "即将到期 expiring"}, nil},
	}
	for _, l := range rep.Issued {
		t[0].rows = append(t[0].rows, []string{l.Unit, l.Month, strconv.Itoa(l.Issued)})
	}
	for _, l := range rep.Late {
		t[1].rows = append(t[1].rows, []string{l.Unit, l.Number, l.Deadline, l.From.String(), l.Done.String(), strconv.Itoa(l.WorkdaysOver)})
	}
	for _, l := range rep.Revocations {
		t[2].rows = append(t[2].rows, []string{l.Unit, string(l.Category), strconv.Itoa(l.Count)})
	}
	for _, l := range rep.Filings {
		t[3].rows = append(t[3].rows, []string{l.Unit, l.Series, l.Specialty, l.ValidUntil.String(), strconv.FormatBool(l.Expiring)})
	}
	return t
}

type reportTable struct {
	name   string
	header []string
	rows   [][]string
}

// getReport answers JSON, CSV (?format=csv&table=issued|late|revocations|filings)
// or XLSX (one sheet per table), since reviewers work in Excel.
func (s *server) getReport(w http.ResponseWriter, r *http.Request) {
	rep, err := s.scopedReport(r, true)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	switch r.URL.Query().Get("format") {
	case "", "json":
		WriteJSON(w, http.StatusOK, rep)
	case "csv":
		name := r.URL.Query().Get("table")
		if name == "" {
			name = "issued"
		}
		for _, t := range rep.tables() {
			if t.name == name {
				var b bytes.Buffer
				b.WriteString("\ufeff") // so Excel reads UTF-8
				cw := csv.NewWriter(&b)
				cw.Write(t.header)
				cw.WriteAll(t.rows)
				w.Header().Set("Content-Type", "text/csv; charset=utf-8")
				w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="certseal-%s.csv"`, name))
				w.Write(b.Bytes())
				return
			}
		}
		WriteProblem(w, r, registry.FieldErr("table", "must be issued, late, revocations or filings"))
	case "xlsx":
		b, err := rep.xlsx()
		if err != nil {
			WriteProblem(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", `attachment; filename="certseal-report.xlsx"`)
		w.Write(b)
	default:
		WriteProblem(w, r, registry.FieldErr("format", "must be json, csv or xlsx"))
	}
}

func (rep Report) xlsx() ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	for i, t := range rep.tables() {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", t.name); err != nil {
				return nil, err
			}
		} else if _, err := f.NewSheet(t.name); err != nil {
			return nil, err
		}
		for r, row := range append([][]string{t.header}, t.rows...) {
			cells := make([]any, len(row))
			for c, v := range row {
				cells[c] = v
			}
			cell, _ := excelize.CoordinatesToCellName(1, r+1)
			if err := f.SetSheetRow(t.name, cell, &cells); err != nil {
				return nil, err
			}
		}
	}
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// listIntegrityRecords is the 诚信档案 for reviewers (their jurisdiction)
// and the platform (all, or ?jurisdiction=, ?unit_id=).
func (s *server) listIntegrityRecords(w http.ResponseWriter, r *http.Request) {
	jurisdiction, unitID, err := s.reportScope(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	page, err := pageOf(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var recs []registry.IntegrityRecord
	err = s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		recs, err = tx.ListIntegrityRecords(r.Context(), jurisdiction, unitID, page)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	writeList(w, recs, page, func(i int) int64 { return recs[i].ID })
}

// listExpiringFilings lists filings in force that end within 90 days, so
// the unit and its reviewer renew them in time (filings are due by the end
// of April each year).
func (s *server) listExpiringFilings(w http.ResponseWriter, r *http.Request) {
	rep, err := s.scopedReport(r, false)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	out := []FilingStateLine{}
	for _, f := range rep.Filings {
		if f.Expiring {
			out = append(out, f)
		}
	}
	today := registry.Today(s.Now())
	WriteJSON(w, http.StatusOK, map[string]any{"items": out, "next_filing_due": workday.FilingDueDate(nextDueYear(today))})
}

// nextDueYear is the year whose filing deadline (end of April) comes next.
func nextDueYear(today registry.Date) int {
	if today.After(workday.FilingDueDate(today.Year)) {
		return today.Year + 1
	}
	return today.Year
}
