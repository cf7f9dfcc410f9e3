package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/leap-dev/leap/operator/api/draft"
	"github.com/leap-dev/leap/operator/api/leapterm"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/server"
)

// previewListLimit is how many students who change band a preview lists:
// the page stays readable, and the figures count them all.
const previewListLimit = 200

// previewForm is what the LEAP team typed in the preview form, kept as
// typed so that a refused draft comes back with their values in it. It
// holds every field of the LeapTerm's policy that changes scores: the
// attendance switch, spec.scoring whole, and the breaks.
type previewForm struct {
	AttendanceOn, Renormalize bool
	Reason                    string
	// Weights holds one entry per activity of the catalogue, in its order;
	// an empty value means the activity does not count.
	Weights []weightField
	// DisplayOnly holds one entry per activity of the catalogue: whether
	// it is shown to students but never scored.
	DisplayOnly              []displayField
	High, Good, Partial, Low string
	WindowDays, PartTime     string
	NoEngagementAt           string
	// Breaks are the breaks the draft holds, in its order (errors at
	// spec.breaks[i] are beside row i), then empty rows to add one.
	Breaks    []breakField
	WholeYear bool
}

// weightField is one activity's weight in the form.
type weightField struct{ Key, Title, Value string }

// displayField is one activity's display-only box in the form.
type displayField struct {
	Key, Title string
	Checked    bool
}

// breakField is one break's row in the form; Index is its place in the
// draft's list of breaks.
type breakField struct {
	Index            int
	Name, Start, End string
}

// newBreakRows is how many empty rows the form offers for new breaks.
const newBreakRows = 2

// maxBreakRows bounds the rows a form may send: the API holds at most 32
// breaks, and a few more rows let a refusal of too many show.
const maxBreakRows = 40

// previewPage is preview.html's data: the form, its field errors when
// scoring refused the draft, and the preview when it did not.
type previewPage struct {
	Session *Session
	Form    previewForm
	// Errors are the refusals of the draft by field path
	// (spec.scoring.bands); Other are those no field of the form shows.
	Errors  map[string]string
	Other   []string
	Preview *scoring.Preview
	Bands   []engine.Band
	Alerts  []alertRow
	// Draft is the previewed draft as sent to scoring, and Version the
	// version of the policy it was worked out from: the apply button
	// sends both, so that it applies exactly what was previewed, or
	// nothing when the policy changed since. Empty when this portal
	// cannot change the policy.
	Draft, Version string
	// Problem says why an apply changed nothing.
	Problem string
}

// alertRow is how many alerts of a kind the draft would start and end.
type alertRow struct {
	Kind           string
	Started, Ended int
}

// formFromPolicy is the form prefilled with the policy in force.
func formFromPolicy(doc policy.Document) previewForm {
	sc := doc.Scoring
	f := previewForm{
		AttendanceOn: doc.Attendance.IsEnabled(), Renormalize: doc.Attendance.Renormalize, Reason: doc.Attendance.Reason,
		High: itoa32(sc.Bands.High), Good: itoa32(sc.Bands.Good), Partial: itoa32(sc.Bands.Partial), Low: itoa32(sc.Bands.Low),
		WindowDays: itoa32(sc.WindowDays), PartTime: itoa32(sc.PartTimeWindowDays), NoEngagementAt: itoa32(sc.NoEngagementAlertDays),
	}
	for _, a := range v1alpha1.Catalogue {
		w := weightField{Key: string(a.Key), Title: a.Title}
		if v, ok := sc.Weights[string(a.Key)]; ok {
			w.Value = itoa32(v)
		}
		f.Weights = append(f.Weights, w)
		f.DisplayOnly = append(f.DisplayOnly, displayField{Key: string(a.Key), Title: a.Title, Checked: slices.Contains(sc.DisplayOnly, a.Key)})
	}
	for _, b := range doc.Breaks {
		f.Breaks = append(f.Breaks, breakField{Name: b.Name, Start: string(b.Start), End: string(b.End)})
	}
	f.Breaks = withNewRows(f.Breaks)
	return f
}

// withNewRows numbers the rows of breaks and adds the empty ones.
func withNewRows(rows []breakField) []breakField {
	rows = append(rows, make([]breakField, newBreakRows)...)
	for i := range rows {
		rows[i].Index = i
	}
	return rows
}

func itoa32(n int32) string { return strconv.Itoa(int(n)) }

// formFromRequest reads the form as sent. A break row left empty, or
// ticked for removal, is no break.
func formFromRequest(c echo.Context) previewForm {
	v := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	f := previewForm{
		AttendanceOn: c.FormValue("attendance") == "on", Renormalize: c.FormValue("renormalize") == "true", Reason: v("reason"),
		High: v("high"), Good: v("good"), Partial: v("partial"), Low: v("low"),
		WindowDays: v("windowDays"), PartTime: v("partTimeWindowDays"), NoEngagementAt: v("noEngagementAlertDays"),
		WholeYear: c.FormValue("scope") == "wholeYear",
	}
	form, _ := c.FormParams()
	displayOnly := form["displayOnly"]
	for _, a := range v1alpha1.Catalogue {
		f.Weights = append(f.Weights, weightField{Key: string(a.Key), Title: a.Title, Value: v("weight-" + string(a.Key))})
		f.DisplayOnly = append(f.DisplayOnly, displayField{Key: string(a.Key), Title: a.Title, Checked: slices.Contains(displayOnly, string(a.Key))})
	}
	rows, _ := strconv.Atoi(c.FormValue("breakRows"))
	for i := range min(max(rows, 0), maxBreakRows) {
		n := strconv.Itoa(i)
		b := breakField{Name: v("break-name-" + n), Start: v("break-start-" + n), End: v("break-end-" + n)}
		if c.FormValue("break-remove-"+n) == "on" || b == (breakField{}) {
			continue
		}
		f.Breaks = append(f.Breaks, b)
	}
	f.Breaks = withNewRows(f.Breaks)
	return f
}

// draft is the form as the preview API's draft: a merge patch of the
// attendance and scoring fields and the whole list of breaks. Every field
// of the form is sent; a field left as it is changes nothing. A number
// that is not one is an error at its field, as the API's would be.
func (f previewForm) draft() (map[string]any, map[string]string) {
	errs := map[string]string{}
	num := func(path, s string) any {
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			errs[path] = "must be a whole number"
			return nil
		}
		return n
	}
	weights := map[string]any{}
	for _, w := range f.Weights {
		// null removes the weight: the activity stops counting.
		weights[w.Key] = num("spec.scoring.weights."+w.Key, w.Value)
	}
	displayOnly := []any{}
	for _, d := range f.DisplayOnly {
		if d.Checked {
			displayOnly = append(displayOnly, d.Key)
		}
	}
	sc := map[string]any{
		"weights":     weights,
		"displayOnly": displayOnly,
		"bands": map[string]any{
			"high": num("spec.scoring.bands.high", f.High), "good": num("spec.scoring.bands.good", f.Good),
			"partial": num("spec.scoring.bands.partial", f.Partial), "low": num("spec.scoring.bands.low", f.Low),
		},
		"windowDays":            num("spec.scoring.windowDays", f.WindowDays),
		"partTimeWindowDays":    num("spec.scoring.partTimeWindowDays", f.PartTime),
		"noEngagementAlertDays": num("spec.scoring.noEngagementAlertDays", f.NoEngagementAt),
	}
	att := map[string]any{"enabled": f.AttendanceOn, "renormalize": f.Renormalize, "reason": nil}
	if !f.AttendanceOn || f.Reason != "" {
		att["reason"] = f.Reason
	}
	breaks := []any{}
	for _, b := range f.Breaks {
		if b.Name == "" && b.Start == "" && b.End == "" {
			continue
		}
		breaks = append(breaks, map[string]any{"name": b.Name, "start": b.Start, "end": b.End})
	}
	d := map[string]any{"attendance": att, "scoring": sc, "breaks": breaks}
	if f.WholeYear {
		d["wholeYear"] = true
	}
	return d, errs
}

// previewForm shows the form prefilled with the policy in force.
func (p *Portal) previewFormPage(c echo.Context) error {
	return p.render(c, http.StatusOK, "preview.html", previewPage{
		Session: sessionOf(c), Form: formFromPolicy(p.Policy.Current().Doc), Bands: previewBands,
	})
}

// previewBands is the order the distributions are shown in.
var previewBands = []engine.Band{engine.High, engine.Good, engine.Partial, engine.Low, engine.VeryLow}

// postPreview asks scoring what the draft would do and shows it, or the
// draft's errors beside their fields. Nothing is applied. A preview lists
// students, so each one listed is audited as a staff view of them is.
func (p *Portal) postPreview(c echo.Context) error {
	ctx := c.Request().Context()
	s := sessionOf(c)
	f := formFromRequest(c)
	page := previewPage{Session: s, Form: f, Bands: previewBands}
	d, errs := f.draft()
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		page.Errors = errs
		return p.render(c, http.StatusUnprocessableEntity, "preview.html", page)
	}
	// The version is read before the preview is worked out: a change in
	// between makes the apply refuse rather than write an unseen policy.
	version := ""
	if p.PolicyWriter != nil {
		var spec map[string]any
		if spec, version, err = p.PolicyWriter.Read(ctx); err != nil {
			return server.Problemf(http.StatusBadGateway, "The policy in force cannot be read: %v", err)
		}
		status, err := p.checkDraft(ctx, &page, body, spec, version)
		if err != nil {
			return err
		}
		if status != 0 {
			return p.render(c, status, "preview.html", page)
		}
	}
	pv, fieldErrs, err := p.preview(ctx, body)
	if err != nil {
		return err
	}
	if len(fieldErrs) > 0 {
		page.placeErrors(fieldErrs)
		return p.render(c, http.StatusUnprocessableEntity, "preview.html", page)
	}
	pipe := p.Redis.Pipeline()
	writes := []auditWrite{p.auditTo(ctx, pipe, s, "", fmt.Sprintf("policy preview: %d up, %d down, listing %d of %d students who change band",
		pv.Moves.Up, pv.Moves.Down, len(pv.Changed), pv.ChangedTotal))}
	for _, ch := range pv.Changed {
		writes = append(writes, p.auditTo(ctx, pipe, s, ch.Student, fmt.Sprintf("listed in a policy preview: %s to %s", ch.Before, ch.After)))
	}
	_, _ = pipe.Exec(ctx)
	for _, w := range writes {
		if err := w.Err(); err != nil {
			return err
		}
	}
	page.Preview = pv
	if version != "" {
		page.Draft, page.Version = string(body), version
	}
	for _, k := range []engine.AlertKind{engine.NoEngagement, engine.VeryLowForAWeek} {
		page.Alerts = append(page.Alerts, alertRow{Kind: string(k), Started: pv.Alerts.Started[k], Ended: pv.Alerts.Ended[k]})
	}
	return p.render(c, http.StatusOK, "preview.html", page)
}

// placeErrors puts each refusal beside its field, or above the form when
// the form has no place for it.
func (page *previewPage) placeErrors(errs []scoring.FieldError) {
	if page.Errors == nil {
		page.Errors = map[string]string{}
	}
	for _, e := range errs {
		at := errorPlace(e.Field, e.Detail)
		if row, ok := breakRow(at); ok && row >= len(page.Form.Breaks) {
			at = "spec.breaks" // a row the form does not show
		}
		if at != "" {
			page.Errors[at] = joinDetail(page.Errors[at], e.Detail)
		} else {
			page.Other = append(page.Other, e.Field+": "+e.Detail)
		}
	}
}

// breakRow is the row of a place spec.breaks[i]...; false for another
// place.
func breakRow(at string) (int, bool) {
	rest, ok := strings.CutPrefix(at, "spec.breaks[")
	if !ok {
		return 0, false
	}
	i, _, _ := strings.Cut(rest, "]")
	n, err := strconv.Atoi(i)
	return n, err == nil
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// errorPlace is the place in the form, beside a field or a group of
// fields, for an error about path, or "" for none (the error is then
// shown above the form). Two of the CRD's rules are on a parent of their
// field (the display-only rule on spec.scoring, the break-inside-a-term
// rule on spec), so their messages place them.
func errorPlace(path, detail string) string {
	switch {
	case path == "spec.scoring" && strings.Contains(detail, "display-only"):
		return "spec.scoring.displayOnly"
	case path == "spec" && strings.Contains(detail, "break"):
		return "spec.breaks"
	case path == "spec.scoring.displayOnly" || strings.HasPrefix(path, "spec.scoring.displayOnly["):
		return "spec.scoring.displayOnly"
	case path == "spec.policyHistory" || strings.HasPrefix(path, "spec.policyHistory["):
		// The history is worked out from the draft, not typed: the
		// scope is what decides it.
		return "scope"
	case path == "spec.attendance.enabled" || path == "spec.attendance.renormalize":
		return "spec.attendance"
	}
	switch path {
	case "spec.attendance", "spec.attendance.reason",
		"spec.scoring.weights", "spec.scoring.bands", "spec.scoring.bands.high", "spec.scoring.bands.good",
		"spec.scoring.bands.partial", "spec.scoring.bands.low", "spec.scoring.windowDays", "spec.scoring.partTimeWindowDays",
		"spec.scoring.noEngagementAlertDays", "spec.breaks":
		return path
	}
	if key, ok := strings.CutPrefix(path, "spec.scoring.weights."); ok {
		if v1alpha1.KnownActivity(key) {
			return path
		}
		return "spec.scoring.weights"
	}
	if rest, ok := strings.CutPrefix(path, "spec.breaks["); ok {
		// spec.breaks[2] or spec.breaks[2].start: the row, or its field.
		if i, field, ok := strings.Cut(rest, "]"); ok {
			if _, err := strconv.ParseUint(i, 10, 16); err == nil && (field == "" || field == ".name" || field == ".start" || field == ".end") {
				return path
			}
		}
		return "spec.breaks"
	}
	return ""
}

// checkDraft works the draft out from the policy where it lives (the
// LeapTerm, or make run's file) as an apply would, and has it checked
// there without writing it: in a cluster by the API server's dry run, so
// that the rules the cluster enforces decide, whatever this portal's copy
// of them says. A refusal goes on the page, beside its field when it
// names one, with the status to answer; 0 when the draft passes.
func (p *Portal) checkDraft(ctx context.Context, page *previewPage, body []byte, spec map[string]any, version string) (int, error) {
	d, errs := draft.Parse(body)
	if len(errs) == 0 {
		pol := p.Policy.Current()
		var res *draft.Result
		var err error
		res, errs, err = d.Apply(ctx, pol.Doc.LeapTerm, spec, pol.Calendar.Today(p.now()))
		if err != nil {
			return 0, err
		}
		if len(errs) == 0 {
			if len(res.Patch) == 0 {
				return 0, nil
			}
			var refusal *leapterm.Refusal
			switch err := p.PolicyWriter.DryRun(ctx, version, res.Patch); {
			case err == nil:
				return 0, nil
			case errors.Is(err, errPolicyChanged):
				page.Problem = errPolicyChanged.Error() + "."
				return http.StatusConflict, nil
			case errors.As(err, &refusal):
				if len(refusal.Causes) == 0 {
					page.Other = append(page.Other, refusal.Message)
				}
				var fieldErrs []scoring.FieldError
				for _, c := range refusal.Causes {
					fieldErrs = append(fieldErrs, scoring.FieldError{Field: c.Field, Detail: c.Message})
				}
				page.placeErrors(fieldErrs)
				return http.StatusUnprocessableEntity, nil
			default:
				return 0, server.Problemf(http.StatusBadGateway, "The draft cannot be checked where the policy lives: %v", err)
			}
		}
	}
	var fieldErrs []scoring.FieldError
	for _, e := range errs {
		detail := e.Detail
		if detail == "" {
			detail = strings.TrimPrefix(e.ErrorBody(), string(e.Type)+": ")
		}
		fieldErrs = append(fieldErrs, scoring.FieldError{Field: e.Field, Type: string(e.Type), Detail: detail})
	}
	page.placeErrors(fieldErrs)
	return http.StatusUnprocessableEntity, nil
}

// preview POSTs the draft to scoring: the preview, or the field errors of
// a refused draft.
func (p *Portal) preview(ctx context.Context, body []byte) (*scoring.Preview, []scoring.FieldError, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.ScoringURL+"/v1/policy/preview?limit="+strconv.Itoa(previewListLimit), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	resp, err := p.http.Do(req)
	if err != nil {
		p.log.ErrorContext(ctx, "scoring unreachable", slog.String("path", "/v1/policy/preview"), slog.Any("error", err))
		return nil, nil, server.Problem(http.StatusServiceUnavailable, "The scoring service cannot be reached just now; try again in a minute.")
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		var pv scoring.Preview
		if err := json.NewDecoder(resp.Body).Decode(&pv); err != nil {
			return nil, nil, fmt.Errorf("decode the preview: %w", err)
		}
		return &pv, nil, nil
	case http.StatusUnprocessableEntity:
		var problem struct {
			Errors []scoring.FieldError `json:"errors"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err := json.Unmarshal(b, &problem); err != nil || len(problem.Errors) == 0 {
			return nil, nil, server.Problemf(http.StatusBadGateway, "The scoring service refused the draft without saying why.")
		}
		return nil, problem.Errors, nil
	case http.StatusServiceUnavailable:
		// Scoring cannot read the stored counts (Redis down or hung).
		return nil, nil, server.Problem(http.StatusServiceUnavailable, "The preview cannot be worked out just now: the stored counts cannot be read. Nothing was changed; try again in a minute.")
	}
	return nil, nil, server.Problemf(http.StatusBadGateway, "The scoring service answered %s.", resp.Status)
}

// postApply applies the previewed draft: worked out again from the policy
// at the version the preview was, and written only if the policy is still
// at that version. Audited with who, the patch and the preview's figures.
func (p *Portal) postApply(c echo.Context) error {
	ctx := c.Request().Context()
	s := sessionOf(c)
	if p.PolicyWriter == nil {
		return server.Problem(http.StatusConflict, "This portal has no way to change the policy.")
	}
	d, errs := draft.Parse([]byte(c.FormValue("draft")))
	if len(errs) > 0 {
		return server.Problemf(http.StatusBadRequest, "The draft is not one this page made: %v", errs.ToAggregate())
	}
	version, figures := c.FormValue("version"), c.FormValue("figures")
	if len(figures) > 500 {
		figures = figures[:500]
	}
	refuse := func(status int, why string) error {
		return p.render(c, status, "preview.html", previewPage{Session: s, Form: formFromPolicy(p.Policy.Current().Doc), Bands: previewBands, Problem: why})
	}
	spec, now, err := p.PolicyWriter.Read(ctx)
	if err != nil {
		return server.Problemf(http.StatusBadGateway, "The policy was not changed: %v", err)
	}
	if now != version {
		return refuse(http.StatusConflict, errPolicyChanged.Error()+".")
	}
	pol := p.Policy.Current()
	res, errs, err := d.Apply(ctx, pol.Doc.LeapTerm, spec, pol.Calendar.Today(p.now()))
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return refuse(http.StatusUnprocessableEntity, "The policy was not changed: "+errs.ToAggregate().Error())
	}
	if len(res.Patch) == 0 {
		return refuse(http.StatusOK, "The draft changes nothing: the policy is as it was.")
	}
	switch err := p.PolicyWriter.ApplyPatch(ctx, version, res.Patch); {
	case errors.Is(err, errPolicyChanged):
		return refuse(http.StatusConflict, errPolicyChanged.Error()+".")
	case err != nil:
		return refuse(http.StatusBadGateway, "The policy was not changed: "+err.Error())
	}
	patch, err := json.Marshal(res.Patch)
	if err != nil {
		return err
	}
	if err := p.audit(ctx, s, "", "policy change: "+string(patch)+"; preview: "+figures); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin?saved=policy")
}
