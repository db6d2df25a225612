package registry

// FieldKind is how an appointment field is written: text, a date
// (YYYY-MM-DD), or the photo (base64 of a JPEG or PNG).
type FieldKind int

const (
	FieldText FieldKind = iota
	FieldDate
	FieldPhoto
)

// AppointmentField is one field of an appointment as a unit submits it:
// a column of the 人员评聘信息采集表 (附件4 of the notice), a member of the
// API's request, and (but the photo, and the ID number only masked) of its
// answers. AppointmentFields is the one list of them: the API's request
// and answer and the batch file's columns are derived from it, so a field
// a unit submits is added to Appointment and here, and nowhere else (a
// test keeps the two in step).
type AppointmentField struct {
	Name     string // JSON member and batch column key; how FieldErr names it
	Header   string // the 附件4 column header
	Kind     FieldKind
	Optional bool // a batch file may leave the column out (the deadline days)
	// Personal data (the ID number, the photo): never in logs, masked
	// (text) or left out (the photo) of answers.
	Personal bool
	// Addr points at the field in a: *string, *Gender, *Level, *Date or
	// *[]byte, the field's own type.
	Addr func(a *Appointment) any
}

// AppointmentFields in the order of the 附件4 columns.
var AppointmentFields = [...]AppointmentField{
	{Name: "name", Header: "姓名", Addr: func(a *Appointment) any { return &a.Name }},
	{Name: "gender", Header: "性别", Addr: func(a *Appointment) any { return &a.Gender }},
	{Name: "id_number", Header: "身份证号", Personal: true, Addr: func(a *Appointment) any { return &a.IDNumber }},
	{Name: "series", Header: "职称系列", Addr: func(a *Appointment) any { return &a.Series }},
	{Name: "specialty", Header: "从事专业", Addr: func(a *Appointment) any { return &a.Specialty }},
	{Name: "level", Header: "职称层级", Addr: func(a *Appointment) any { return &a.Level }},
	{Name: "post", Header: "评聘岗位", Addr: func(a *Appointment) any { return &a.Post }},
	{Name: "term_from", Header: "聘期开始", Kind: FieldDate, Addr: func(a *Appointment) any { return &a.TermFrom }},
	{Name: "term_to", Header: "聘期结束", Kind: FieldDate, Addr: func(a *Appointment) any { return &a.TermTo }},
	{Name: "committee", Header: "评聘委员会名称", Addr: func(a *Appointment) any { return &a.Committee }},
	{Name: "publication_number", Header: "公布文号", Addr: func(a *Appointment) any { return &a.PublicationNumber }},
	{Name: "appointed_on", Header: "聘任日期", Kind: FieldDate, Addr: func(a *Appointment) any { return &a.AppointedOn }},
	{Name: "photo", Header: "照片", Kind: FieldPhoto, Personal: true, Addr: func(a *Appointment) any { return &a.Photo }},
	{Name: "appraisal_ended_on", Header: "评聘结束日期", Kind: FieldDate, Optional: true, Addr: func(a *Appointment) any { return &a.AppraisalEndedOn }},
	{Name: "result_filed_on", Header: "聘用结果备案日期", Kind: FieldDate, Optional: true, Addr: func(a *Appointment) any { return &a.ResultFiledOn }},
}
