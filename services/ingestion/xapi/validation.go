package xapi

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leap-dev/leap/services/store"
)

// The checks of xAPI's data model. Each takes a node and reports the first
// problem under it; those marked extract fill the statement.

// members are the members of an object among the properties known to a
// part of a statement (one that is not known is a problem), without a map:
// this is the hot path.
type members struct {
	known []string
	node  [14]int32
}

// get is the node of a known property, and whether the object has it.
func (m *members) get(name string) (int32, bool) {
	for i, k := range m.known {
		if k == name {
			return m.node[i], m.node[i] >= 0
		}
	}
	return -1, false
}

// at is the node of a known property, or -1.
func (m *members) at(name string) int32 {
	c, _ := m.get(name)
	return c
}

func (m *members) has(name string) bool {
	_, ok := m.get(name)
	return ok
}

// The properties of each part of a statement.
var (
	propsStatement    = []string{"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments"}
	propsSubStatement = []string{"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}
	propsVerb         = []string{"id", "display"}
	propsAgent        = []string{"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"}
	propsGroup        = []string{"objectType", "name", "member", "mbox", "mbox_sha1sum", "openid", "account"}
	propsAccount      = []string{"homePage", "name"}
	propsStatementRef = []string{"objectType", "id"}
	propsActivity     = []string{"objectType", "id", "definition"}
	propsDefinition   = []string{"name", "description", "type", "moreInfo", "extensions",
		"interactionType", "correctResponsesPattern", "choices", "scale", "source", "target", "steps"}
	propsComponent         = []string{"id", "description"}
	propsResult            = []string{"score", "success", "completion", "response", "duration", "extensions"}
	propsScore             = []string{"scaled", "raw", "min", "max"}
	propsContext           = []string{"registration", "instructor", "team", "contextActivities", "revision", "platform", "language", "statement", "extensions", "contextAgents", "contextGroups"}
	propsContextActivities = []string{"parent", "grouping", "category", "other"}
	propsContextAgent      = []string{"objectType", "agent", "relevantTypes"}
	propsContextGroup      = []string{"objectType", "group", "relevantTypes"}
	propsAttachment        = []string{"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"}
)

func (r *reader) members(n int32, what string, known []string) (members, error) {
	m := members{known: known}
	for i := range m.node {
		m.node[i] = -1
	}
	nd := &r.nodes[n]
	if nd.kind != jObject {
		return m, r.fail(n, what+" must be an object, not "+kindName[nd.kind])
	}
	if nd.n == 0 {
		return m, r.fail(n, what+" must not be an empty object")
	}
	for c := nd.first; c >= 0; c = r.nodes[c].next {
		k := r.key(c)
		at := -1
		for i, want := range known {
			if string(k) == want {
				at = i
				break
			}
		}
		if at < 0 {
			hint := ""
			if string(k) == "extensions" && what == "an Activity" {
				hint = " (extensions of an Activity belong in its definition)"
			}
			if lower := strings.ToLower(string(k)); lower != string(k) && slices.Contains(known, lower) {
				hint = fmt.Sprintf(" (property names are case-sensitive: %q)", lower)
			}
			return m, r.fail(c, "not a property of "+what+hint)
		}
		if m.node[at] >= 0 {
			return m, r.fail(c, "the property appears twice")
		}
		if r.nodes[c].kind == jNull {
			return m, r.fail(c, "must not be null")
		}
		m.node[at] = c
	}
	return m, nil
}

func (r *reader) required(n int32, m *members, what string, names ...string) error {
	for _, name := range names {
		if !m.has(name) {
			return r.failMember(n, name, "is required in "+what)
		}
	}
	return nil
}

// stringOf is the string at n, not copied: the checks look at many
// strings and keep few.
func (r *reader) stringOf(n int32) ([]byte, error) {
	if r.nodes[n].kind != jString {
		return nil, r.fail(n, "must be a string, not "+kindName[r.nodes[n].kind])
	}
	return r.text(n), nil
}

func (r *reader) nonEmptyString(n int32) ([]byte, error) {
	s, err := r.stringOf(n)
	if err == nil && len(s) == 0 {
		err = r.fail(n, "must not be empty")
	}
	return s, err
}

// intern is s as a string, without a copy when it is one of known.
func intern(s []byte, known ...string) string {
	for _, k := range known {
		if string(s) == k {
			return k
		}
	}
	return string(s)
}

// hasScheme says whether s begins with an IRI scheme and its colon:
// [A-Za-z][A-Za-z0-9+.-]*: (by hand: this is the hot path).
func hasScheme[T string | []byte](s T) bool {
	if len(s) == 0 || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == ':':
			return true
		case isAlpha(c) || isDigit(c) || c == '+' || c == '.' || c == '-':
		default:
			return false
		}
	}
	return false
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// IsUUID says whether s is a UUID in its 8-4-4-4-12 hexadecimal form.
func IsUUID[T string | []byte](s T) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if c := s[i]; !isDigit(c) && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}

// isLangTag says whether s has the shape of an RFC 5646 language tag:
// [A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*.
func isLangTag[T string | []byte](s T) bool {
	n, first := 0, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-':
			if n == 0 {
				return false
			}
			n, first = 0, false
		case isAlpha(c) || (!first && isDigit(c)):
			if n++; n > 8 {
				return false
			}
		default:
			return false
		}
	}
	return n > 0
}

func (r *reader) iri(n int32) ([]byte, error) {
	s, err := r.stringOf(n)
	if err != nil {
		return nil, err
	}
	if !hasScheme(s) {
		return nil, r.fail(n, "must be an IRI with a scheme, such as http://adlnet.gov/expapi/verbs/attended")
	}
	if r.nodes[n].flags&fSpace != 0 {
		return nil, r.fail(n, "an IRI holds no spaces")
	}
	return s, nil
}

func (r *reader) uuid(n int32) ([]byte, error) {
	s, err := r.stringOf(n)
	if err != nil {
		return nil, err
	}
	if !IsUUID(s) {
		return nil, r.fail(n, "must be a UUID such as 4a8e2f5c-7d1b-4c3e-9f0a-6b5d4c3b2a19")
	}
	r.nodes[n].flags |= fUUID
	return s, nil
}

func (r *reader) boolean(n int32) (bool, error) {
	switch r.nodes[n].kind {
	case jTrue:
		return true, nil
	case jFalse:
		return false, nil
	}
	return false, r.fail(n, "must be true or false, not "+kindName[r.nodes[n].kind])
}

func (r *reader) numberOf(n int32) (float64, error) {
	if r.nodes[n].kind != jNumber {
		return 0, r.fail(n, "must be a number, not "+kindName[r.nodes[n].kind])
	}
	v, err := strconv.ParseFloat(string(r.text(n)), 64)
	if err != nil {
		return 0, r.fail(n, "is not a number xAPI can hold")
	}
	return v, nil
}

func (r *reader) langMap(n int32) error {
	nd := &r.nodes[n]
	if nd.kind != jObject {
		return r.fail(n, "must be a language map such as {\"en\": \"viewed\"}, not "+kindName[nd.kind])
	}
	if nd.n == 0 {
		return r.fail(n, "a language map must not be empty")
	}
	nd.flags |= fLangMap
	for c := nd.first; c >= 0; c = r.nodes[c].next {
		if !isLangTag(r.key(c)) {
			return r.fail(c, "is not a language tag (RFC 5646) such as en or en-GB")
		}
		if _, err := r.stringOf(c); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) extensions(n int32, keep bool, st *Statement) error {
	nd := &r.nodes[n]
	if nd.kind != jObject {
		return r.fail(n, "extensions must be an object keyed by IRIs, not "+kindName[nd.kind])
	}
	for c := nd.first; c >= 0; c = r.nodes[c].next {
		k := r.key(c)
		if !hasScheme(k) || r.nodes[c].kSpace {
			return r.fail(c, "an extension key must be an IRI with a scheme")
		}
		if keep && r.nodes[c].kind == jString {
			for _, want := range r.opt.ExtKeys {
				if string(k) == want {
					st.Extensions = append(st.Extensions, Extension{Key: want, Value: string(r.text(c))})
				}
			}
		}
	}
	return nil
}

// Timestamps: RFC 3339; for xAPI 1.0 also the ISO 8601 forms without a time
// zone (taken as UTC) and with a basic offset.
var timeLayouts = []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00", "2006-01-02T15:04"}

func parseXAPITime(s string, v2 bool) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if v2 {
		return time.Time{}, false
	}
	for _, layout := range timeLayouts[1:] {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (r *reader) timestamp(n int32) (time.Time, error) {
	s, err := r.stringOf(n)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := parseXAPITime(string(s), r.opt.V2)
	if !ok {
		if r.opt.V2 {
			return t, r.fail(n, "must be an RFC 3339 timestamp with a time zone, such as 2026-10-20T09:00:00Z")
		}
		return t, r.fail(n, "must be an ISO 8601 timestamp such as 2026-10-20T09:00:00Z")
	}
	r.nodes[n].flags |= fTimestamp
	return t, nil
}

var isoDuration = regexp.MustCompile(`^P(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?(T(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$`)

func (r *reader) duration(n int32) error {
	s, err := r.stringOf(n)
	if err != nil {
		return err
	}
	if !isoDuration.Match(s) || string(s) == "P" || bytes.HasSuffix(s, []byte("T")) {
		return r.fail(n, "must be an ISO 8601 duration such as PT1H30M")
	}
	return nil
}

var versionShape = regexp.MustCompile(`^[12]\.0(\.\d+)?$`)

// checkStatement checks a statement object and fills st.
func (r *reader) checkStatement(n int32, st *Statement) error {
	m, err := r.members(n, "a Statement", propsStatement)
	if err != nil {
		return err
	}
	if err := r.required(n, &m, "a Statement", "actor", "verb", "object"); err != nil {
		return err
	}
	if c, ok := m.get("id"); ok {
		id, err := r.uuid(c)
		if err != nil {
			return err
		}
		st.ID = strings.ToLower(string(id))
		r.nodes[c].flags |= fSkip
	}
	if c, ok := m.get("stored"); ok {
		if _, err := r.timestamp(c); err != nil {
			return err
		}
		r.nodes[c].flags |= fSkip
	}
	if c, ok := m.get("authority"); ok {
		if _, err := r.agentOrGroup(c, nil); err != nil {
			return err
		}
		r.nodes[c].flags |= fSkip
	}
	if c, ok := m.get("version"); ok {
		s, err := r.stringOf(c)
		if err != nil {
			return err
		}
		if !versionShape.Match(s) {
			return r.fail(c, "must be an xAPI version such as 1.0.3 or 2.0.0")
		}
		r.nodes[c].flags |= fSkip
	}
	return r.statementBody(&m, st)
}

// statementBody checks what a Statement and a SubStatement share; st is nil
// inside a SubStatement.
func (r *reader) statementBody(m *members, st *Statement) error {
	var a Actor
	if _, err := r.agentOrGroup(m.at("actor"), &a); err != nil {
		return err
	}
	verb, err := r.verb(m.at("verb"))
	if err != nil {
		return err
	}
	objectType, activityType, err := r.object(m.at("object"), st == nil)
	if err != nil {
		return err
	}
	if st != nil {
		st.Actor, st.Verb, st.ObjectType, st.ActivityType = a, verb, objectType, activityType
	}
	if c, ok := m.get("result"); ok {
		if err := r.result(c, st); err != nil {
			return err
		}
	}
	if c, ok := m.get("context"); ok {
		if err := r.context(c, objectType == "Activity", st); err != nil {
			return err
		}
	}
	if c, ok := m.get("timestamp"); ok {
		t, err := r.timestamp(c)
		if err != nil {
			return err
		}
		if st != nil {
			st.Timestamp, st.HasTimestamp = t, true
		}
	}
	if c, ok := m.get("attachments"); ok {
		if err := r.attachments(c); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) verb(n int32) (string, error) {
	m, err := r.members(n, "a Verb", propsVerb)
	if err != nil {
		return "", err
	}
	if err := r.required(n, &m, "a Verb", "id"); err != nil {
		return "", err
	}
	id, err := r.iri(m.at("id"))
	if err != nil {
		return "", err
	}
	if c, ok := m.get("display"); ok {
		if err := r.langMap(c); err != nil {
			return "", err
		}
	}
	return string(id), nil
}

// agentOrGroup checks an Agent or a Group; a is filled when not nil.
func (r *reader) agentOrGroup(n int32, a *Actor) (string, error) {
	if r.nodes[n].kind != jObject {
		return "", r.fail(n, "an actor must be an object, not "+kindName[r.nodes[n].kind])
	}
	objectType := "Agent"
	for c := r.nodes[n].first; c >= 0; c = r.nodes[c].next {
		if string(r.key(c)) == "objectType" && r.nodes[c].kind == jString {
			objectType = string(r.text(c))
		}
	}
	switch objectType {
	case "Agent":
		return objectType, r.agent(n, a, true)
	case "Group":
		if a != nil {
			a.Group = true
		}
		return objectType, r.group(n)
	}
	return "", r.failMember(n, "objectType", "must be Agent or Group")
}

// agent checks an Agent: exactly one identifier (mbox, mbox_sha1sum,
// openid, account) when needIFI.
func (r *reader) agent(n int32, a *Actor, needIFI bool) error {
	m, err := r.members(n, "an Agent", propsAgent)
	if err != nil {
		return err
	}
	if c, ok := m.get("objectType"); ok {
		if s, err := r.stringOf(c); err != nil || string(s) != "Agent" {
			return r.fail(c, "must be Agent")
		}
	}
	if c, ok := m.get("name"); ok {
		if _, err := r.stringOf(c); err != nil {
			return err
		}
	}
	ifis, err := r.identifiers(&m, a)
	if err != nil {
		return err
	}
	if ifis > 1 {
		return r.fail(n, "an Agent has exactly one of mbox, mbox_sha1sum, openid and account, not several")
	}
	if ifis == 0 && needIFI {
		return r.fail(n, "an Agent needs one of mbox, mbox_sha1sum, openid and account")
	}
	return nil
}

// identifiers checks the inverse functional identifiers of an Agent or
// Group and counts them.
func (r *reader) identifiers(m *members, a *Actor) (int, error) {
	count := 0
	if c, ok := m.get("mbox"); ok {
		count++
		s, err := r.stringOf(c)
		if err != nil {
			return 0, err
		}
		addr, ok := cutPrefixFold(string(s), "mailto:")
		if !ok || !strings.Contains(addr, "@") || strings.ContainsAny(addr, " \t\r\n") {
			return 0, r.fail(c, "must be a mailto: IRI such as mailto:ada@example.ac.uk")
		}
		if a != nil {
			a.MboxSHA1 = store.MboxSHA1(strings.ToLower(addr))
		}
	}
	if c, ok := m.get("mbox_sha1sum"); ok {
		count++
		s, err := r.stringOf(c)
		if err != nil {
			return 0, err
		}
		if len(s) != 40 || !isHex(s) {
			return 0, r.fail(c, "must be the SHA-1 of a mailto: IRI, 40 hexadecimal digits")
		}
		if a != nil {
			a.MboxSHA1 = strings.ToLower(string(s))
		}
	}
	if c, ok := m.get("openid"); ok {
		count++
		if _, err := r.iri(c); err != nil {
			return 0, err
		}
		if a != nil {
			a.OpenID = true
		}
	}
	if c, ok := m.get("account"); ok {
		count++
		am, err := r.members(c, "an account", propsAccount)
		if err != nil {
			return 0, err
		}
		if err := r.required(c, &am, "an account", "homePage", "name"); err != nil {
			return 0, err
		}
		home, err := r.iri(am.at("homePage"))
		if err != nil {
			return 0, err
		}
		name, err := r.nonEmptyString(am.at("name"))
		if err != nil {
			return 0, err
		}
		if a != nil {
			a.HomePage, a.Name = string(home), string(name)
		}
	}
	return count, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func isHex[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

func (r *reader) group(n int32) error {
	m, err := r.members(n, "a Group", propsGroup)
	if err != nil {
		return err
	}
	if c, ok := m.get("name"); ok {
		if _, err := r.stringOf(c); err != nil {
			return err
		}
	}
	ifis, err := r.identifiers(&m, nil)
	if err != nil {
		return err
	}
	if ifis > 1 {
		return r.fail(n, "a Group has at most one of mbox, mbox_sha1sum, openid and account")
	}
	c, ok := m.get("member")
	if !ok {
		if ifis == 0 {
			return r.failMember(n, "member", "is required in an anonymous Group")
		}
		return nil
	}
	if r.nodes[c].kind != jArray {
		return r.fail(c, "must be an array of Agents")
	}
	if r.nodes[c].n == 0 && ifis == 0 {
		return r.fail(c, "an anonymous Group needs members")
	}
	for e := r.nodes[c].first; e >= 0; e = r.nodes[e].next {
		if r.nodes[e].kind != jObject {
			return r.fail(e, "a member must be an Agent object")
		}
		if err := r.agent(e, nil, true); err != nil {
			return err
		}
	}
	return nil
}

// object checks a statement's object and says its objectType and, for an
// Activity, its type.
func (r *reader) object(n int32, inSub bool) (objectType, activityType string, err error) {
	if r.nodes[n].kind != jObject {
		return "", "", r.fail(n, "the object must be an object, not "+kindName[r.nodes[n].kind])
	}
	objectType = "Activity"
	for c := r.nodes[n].first; c >= 0; c = r.nodes[c].next {
		if string(r.key(c)) == "objectType" {
			t, err := r.stringOf(c)
			if err != nil {
				return "", "", err
			}
			objectType = intern(t, "Activity", "Agent", "Group", "SubStatement", "StatementRef")
		}
	}
	switch objectType {
	case "Activity":
		t, err := r.activity(n)
		return objectType, string(t), err
	case "Agent", "Group":
		_, err = r.agentOrGroup(n, nil)
		return objectType, "", err
	case "StatementRef":
		return objectType, "", r.statementRef(n)
	case "SubStatement":
		if inSub {
			return "", "", r.failMember(n, "objectType", "a SubStatement cannot hold another SubStatement")
		}
		m, err := r.members(n, "a SubStatement", propsSubStatement)
		if err != nil {
			return "", "", err
		}
		if err := r.required(n, &m, "a SubStatement", "actor", "verb", "object"); err != nil {
			return "", "", err
		}
		return objectType, "", r.statementBody(&m, nil)
	}
	return "", "", r.failMember(n, "objectType", "must be Activity, Agent, Group, SubStatement or StatementRef")
}

func (r *reader) statementRef(n int32) error {
	m, err := r.members(n, "a StatementRef", propsStatementRef)
	if err != nil {
		return err
	}
	if err := r.required(n, &m, "a StatementRef", "objectType", "id"); err != nil {
		return err
	}
	if s, _ := r.stringOf(m.at("objectType")); string(s) != "StatementRef" {
		return r.fail(m.at("objectType"), "must be StatementRef")
	}
	_, err = r.uuid(m.at("id"))
	return err
}

// activity checks an Activity and returns its definition.type.
func (r *reader) activity(n int32) ([]byte, error) {
	m, err := r.members(n, "an Activity", propsActivity)
	if err != nil {
		return nil, err
	}
	if err := r.required(n, &m, "an Activity", "id"); err != nil {
		return nil, err
	}
	if c, ok := m.get("objectType"); ok {
		if s, _ := r.stringOf(c); string(s) != "Activity" {
			return nil, r.fail(c, "must be Activity")
		}
	}
	if _, err := r.iri(m.at("id")); err != nil {
		return nil, err
	}
	c, ok := m.get("definition")
	if !ok {
		return nil, nil
	}
	d, err := r.members(c, "an Activity definition", propsDefinition)
	if err != nil {
		return nil, err
	}
	var activityType []byte
	for i, e := range d.node[:len(d.known)] {
		if e < 0 {
			continue
		}
		switch d.known[i] {
		case "name", "description":
			err = r.langMap(e)
		case "type":
			activityType, err = r.iri(e)
		case "moreInfo":
			_, err = r.iri(e)
		case "extensions":
			err = r.extensions(e, false, nil)
		case "interactionType":
			err = r.interactionType(e)
		case "correctResponsesPattern":
			err = r.strings(e)
		default: // choices, scale, source, target, steps
			err = r.components(e)
		}
		if err != nil {
			return nil, err
		}
	}
	return activityType, nil
}

func (r *reader) interactionType(n int32) error {
	s, err := r.stringOf(n)
	if err != nil {
		return err
	}
	switch string(s) {
	case "true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing", "likert", "numeric", "other":
		return nil
	}
	return r.fail(n, "is not an xAPI interaction type (true-false, choice, fill-in, long-fill-in, matching, performance, sequencing, likert, numeric, other)")
}

func (r *reader) strings(n int32) error {
	if r.nodes[n].kind != jArray {
		return r.fail(n, "must be an array of strings")
	}
	for s := r.nodes[n].first; s >= 0; s = r.nodes[s].next {
		if _, err := r.stringOf(s); err != nil {
			return err
		}
	}
	return nil
}

// components checks a list of interaction components.
func (r *reader) components(n int32) error {
	if r.nodes[n].kind != jArray {
		return r.fail(n, "must be an array of interaction components")
	}
	for s := r.nodes[n].first; s >= 0; s = r.nodes[s].next {
		cm, err := r.members(s, "an interaction component", propsComponent)
		if err != nil {
			return err
		}
		if err := r.required(s, &cm, "an interaction component", "id"); err != nil {
			return err
		}
		if _, err := r.nonEmptyString(cm.at("id")); err != nil {
			return err
		}
		if x, ok := cm.get("description"); ok {
			if err := r.langMap(x); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *reader) result(n int32, st *Statement) error {
	m, err := r.members(n, "a Result", propsResult)
	if err != nil {
		return err
	}
	if c, ok := m.get("score"); ok {
		if err := r.score(c); err != nil {
			return err
		}
	}
	if c, ok := m.get("success"); ok {
		if _, err := r.boolean(c); err != nil {
			return err
		}
	}
	if c, ok := m.get("completion"); ok {
		done, err := r.boolean(c)
		if err != nil {
			return err
		}
		if st != nil {
			st.Completion = -1
			if done {
				st.Completion = 1
			}
		}
	}
	if c, ok := m.get("response"); ok {
		if _, err := r.stringOf(c); err != nil {
			return err
		}
	}
	if c, ok := m.get("duration"); ok {
		if err := r.duration(c); err != nil {
			return err
		}
	}
	if c, ok := m.get("extensions"); ok {
		return r.extensions(c, false, nil)
	}
	return nil
}

func (r *reader) score(n int32) error {
	m, err := r.members(n, "a Score", propsScore)
	if err != nil {
		return err
	}
	v := map[string]float64{}
	for _, k := range []string{"scaled", "raw", "min", "max"} {
		if c, ok := m.get(k); ok {
			if v[k], err = r.numberOf(c); err != nil {
				return err
			}
		}
	}
	if c, ok := m.get("scaled"); ok && (v["scaled"] < -1 || v["scaled"] > 1) {
		return r.fail(c, "a scaled score lies between -1 and 1")
	}
	hasMin := m.has("min")
	hasMax := m.has("max")
	if hasMin && hasMax && v["min"] >= v["max"] {
		return r.fail(m.at("max"), "max must be greater than min")
	}
	if c, ok := m.get("raw"); ok && ((hasMin && v["raw"] < v["min"]) || (hasMax && v["raw"] > v["max"])) {
		return r.fail(c, "a raw score lies between min and max")
	}
	return nil
}

func (r *reader) context(n int32, objectIsActivity bool, st *Statement) error {
	m, err := r.members(n, "a Context", propsContext)
	if err != nil {
		return err
	}
	if c, ok := m.get("registration"); ok {
		if _, err := r.uuid(c); err != nil {
			return err
		}
	}
	if c, ok := m.get("instructor"); ok {
		if _, err := r.agentOrGroup(c, nil); err != nil {
			return err
		}
	}
	if c, ok := m.get("team"); ok {
		if t, err := r.agentOrGroup(c, nil); err != nil {
			return err
		} else if t != "Group" {
			return r.fail(c, "a team must be a Group")
		}
	}
	if c, ok := m.get("contextActivities"); ok {
		if err := r.contextActivities(c); err != nil {
			return err
		}
	}
	for _, k := range []string{"revision", "platform"} {
		c, ok := m.get(k)
		if !ok {
			continue
		}
		if !objectIsActivity {
			return r.fail(c, "is only for statements about an Activity")
		}
		s, err := r.stringOf(c)
		if err != nil {
			return err
		}
		if k == "platform" && st != nil {
			st.Platform = intern(s, "Moodle")
		}
	}
	if c, ok := m.get("language"); ok {
		s, err := r.stringOf(c)
		if err != nil {
			return err
		}
		if !isLangTag(s) {
			return r.fail(c, "is not a language tag (RFC 5646) such as en or en-GB")
		}
	}
	if c, ok := m.get("statement"); ok {
		if err := r.statementRef(c); err != nil {
			return err
		}
	}
	if c, ok := m.get("extensions"); ok {
		if err := r.extensions(c, st != nil, st); err != nil {
			return err
		}
	}
	for _, k := range []string{"contextAgents", "contextGroups"} {
		if c, ok := m.get(k); ok {
			if err := r.contextAgents(c, k); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *reader) contextActivities(n int32) error {
	m, err := r.members(n, "contextActivities", propsContextActivities)
	if err != nil {
		return err
	}
	for _, k := range []string{"parent", "grouping", "category", "other"} {
		c, ok := m.get(k)
		if !ok {
			continue
		}
		if r.nodes[c].kind == jObject {
			if _, err := r.activity(c); err != nil {
				return err
			}
			continue
		}
		if r.nodes[c].kind != jArray {
			return r.fail(c, "must be an Activity or an array of Activities")
		}
		for a := r.nodes[c].first; a >= 0; a = r.nodes[a].next {
			if _, err := r.activity(a); err != nil {
				return err
			}
		}
	}
	return nil
}

// contextAgents checks xAPI 2.0's contextAgents and contextGroups.
func (r *reader) contextAgents(n int32, k string) error {
	if r.nodes[n].kind != jArray {
		return r.fail(n, "must be an array")
	}
	objectType, who, props := "contextAgent", "agent", propsContextAgent
	if k == "contextGroups" {
		objectType, who, props = "contextGroup", "group", propsContextGroup
	}
	for c := r.nodes[n].first; c >= 0; c = r.nodes[c].next {
		m, err := r.members(c, "a "+objectType, props)
		if err != nil {
			return err
		}
		if err := r.required(c, &m, "a "+objectType, "objectType", who); err != nil {
			return err
		}
		if s, _ := r.stringOf(m.at("objectType")); string(s) != objectType {
			return r.fail(m.at("objectType"), "must be "+objectType)
		}
		t, err := r.agentOrGroup(m.at(who), nil)
		if err != nil {
			return err
		}
		if (who == "agent") != (t == "Agent") {
			return r.fail(m.at(who), "must be an "+map[string]string{"agent": "Agent", "group": "Group"}[who])
		}
		if rt, ok := m.get("relevantTypes"); ok {
			if r.nodes[rt].kind != jArray || r.nodes[rt].n == 0 {
				return r.fail(rt, "must be a non-empty array of IRIs")
			}
			for e := r.nodes[rt].first; e >= 0; e = r.nodes[e].next {
				if _, err := r.iri(e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (r *reader) attachments(n int32) error {
	if r.nodes[n].kind != jArray {
		return r.fail(n, "must be an array of Attachments")
	}
	for c := r.nodes[n].first; c >= 0; c = r.nodes[c].next {
		m, err := r.members(c, "an Attachment", propsAttachment)
		if err != nil {
			return err
		}
		if err := r.required(c, &m, "an Attachment", "usageType", "display", "contentType", "length", "sha2"); err != nil {
			return err
		}
		if _, err := r.iri(m.at("usageType")); err != nil {
			return err
		}
		for _, k := range []string{"display", "description"} {
			if e, ok := m.get(k); ok {
				if err := r.langMap(e); err != nil {
					return err
				}
			}
		}
		if _, err := r.nonEmptyString(m.at("contentType")); err != nil {
			return err
		}
		l := m.at("length")
		if v, err := r.numberOf(l); err != nil {
			return err
		} else if v < 0 || v != float64(int64(v)) || bytes.ContainsAny(r.text(l), ".eE") {
			return r.fail(l, "must be a whole number of bytes")
		}
		if s, err := r.stringOf(m.at("sha2")); err != nil {
			return err
		} else if len(s) < 56 || !isHex(s) {
			return r.fail(m.at("sha2"), "must be the SHA-2 of the attachment in hexadecimal")
		}
		if e, ok := m.get("fileUrl"); ok {
			if _, err := r.iri(e); err != nil {
				return err
			}
		}
	}
	return nil
}
