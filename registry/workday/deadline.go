package workday

import (
	"errors"
	"time"

	"github.com/certseal/certseal/registry"
)

// Deadline is a time limit of some working days after an event; the event
// day itself is not counted, and the last working day is still in time.
type Deadline int

const (
	// InfoDeadline: a unit uploads the 人员评聘信息采集表 "在本单位完成岗位聘用后15个工作日内"
	// (鲁人社字〔2023〕49号, 二(二)).
	InfoDeadline Deadline = 15
	// ResultFilingDeadline: a unit files the appointment result "在评聘结束5个工作日内"
	// (威人社函〔2023〕26号, 三).
	ResultFilingDeadline Deadline = 5
)

// Due is the last day on which something due dl after event is in time.
func (dl Deadline) Due(c *Calendar, event registry.Date) (registry.Date, error) {
	return c.AddWorkdays(event, int(dl))
}

// InfoDue is the last day to upload the information of an appointment made
// on appointedOn.
func InfoDue(c *Calendar, appointedOn registry.Date) (registry.Date, error) {
	return InfoDeadline.Due(c, appointedOn)
}

// ResultFilingDue is the last day to file the result of an appraisal that
// ended on appraisalEnd.
func ResultFilingDue(c *Calendar, appraisalEnd registry.Date) (registry.Date, error) {
	return ResultFilingDeadline.Due(c, appraisalEnd)
}

// Lateness says whether something due dl after event and submitted on
// submittedOn was late, and by how many working days: the number by which
// the limit would have had to be longer for it to be in time. So a late
// submission is at least 1 working day over, even when it came on the
// Saturday after a Friday deadline.
func Lateness(c *Calendar, dl Deadline, event, submittedOn registry.Date) (late bool, workdaysOver int, err error) {
	due, err := dl.Due(c, event)
	if err != nil {
		return false, 0, err
	}
	if err := checkDate(submittedOn); err != nil {
		return false, 0, err
	}
	if !submittedOn.After(due) {
		return false, 0, nil
	}
	over, err := c.WorkdaysBetween(due, submittedOn)
	if err != nil {
		return false, 0, err
	}
	// WorkdaysBetween stops at submittedOn; if that is a day off, the limit
	// must reach the next working day. (It has read submittedOn's year, so
	// there is no error left to meet.)
	if w, _ := c.isWorkday(submittedOn); !w {
		over++
	}
	return true, over, nil
}

// FilingDueDate is the last day of a year's series filing: "每年4月底前",
// and for 2023, the first year, "6月30日前" (鲁人社字〔2023〕49号, 一(二)).
// It is the calendar date the notice names; it is not moved off weekends.
func FilingDueDate(year int) registry.Date {
	if year == 2023 {
		return registry.Date{Year: 2023, Month: time.June, Day: 30}
	}
	return registry.Date{Year: year, Month: time.April, Day: 30}
}

// ExpiryWarningDays is how far ahead a filing's end is announced.
const ExpiryWarningDays = 90

// ExpiringSoon reports whether a filing valid until validUntil (its last
// valid day) ends within the next ExpiryWarningDays calendar days of today.
// One that has already ended is expired, not expiring.
func ExpiringSoon(validUntil, today registry.Date) bool {
	return !validUntil.Before(today) && !validUntil.After(today.AddDate(0, 0, ExpiryWarningDays))
}

// MarkLateness records on a the notice's two deadlines for information
// submitted on submittedOn: the information (15 working days after the
// appointment) and, when both of its days are given, the result filing
// (ResultFiledOn within 5 working days after AppraisalEndedOn). A year the
// calendar lacks is returned as a *MissingYearError (in the returned
// error) and leaves that deadline's count at zero.
func MarkLateness(c *Calendar, a *registry.Appointment, submittedOn registry.Date) error {
	a.SubmittedOn = submittedOn
	a.InfoLateWorkdays, a.ResultLateWorkdays = 0, 0
	// Each deadline is counted if it can be: a year one of them lacks does
	// not cost the other its count.
	_, info, infoErr := Lateness(c, InfoDeadline, a.AppointedOn, submittedOn)
	if infoErr == nil {
		a.InfoLateWorkdays = info
	}
	var resultErr error
	if !a.AppraisalEndedOn.IsZero() && !a.ResultFiledOn.IsZero() {
		var result int
		if _, result, resultErr = Lateness(c, ResultFilingDeadline, a.AppraisalEndedOn, a.ResultFiledOn); resultErr == nil {
			a.ResultLateWorkdays = result
		}
	}
	return errors.Join(infoErr, resultErr)
}
