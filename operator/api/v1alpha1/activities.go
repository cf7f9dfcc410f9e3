package v1alpha1

// Activity is the key of one kind of student activity that LEAP records.
// +kubebuilder:validation:Enum=tap_in;faser_upload;faser_view;listen_again;pc_lab_login;moodle_course;moodle_login;moodle_mobile;library_loan;reading_list
type Activity string

// The activity catalogue. Which of these count toward the indicator, and how
// much, is policy (spec.scoring), not code; the catalogue only says what
// exists and what it means.
const (
	TapIn        Activity = "tap_in"
	FaserUpload  Activity = "faser_upload"
	FaserView    Activity = "faser_view"
	ListenAgain  Activity = "listen_again"
	PCLabLogin   Activity = "pc_lab_login"
	MoodleCourse Activity = "moodle_course"
	MoodleLogin  Activity = "moodle_login"
	MoodleMobile Activity = "moodle_mobile"
	LibraryLoan  Activity = "library_loan"
	ReadingList  Activity = "reading_list"
)

// ActivityInfo describes one activity for people: the portal's tabs and the
// documentation are written from it.
type ActivityInfo struct {
	Key   Activity
	Title string
	// What says in plain words what one count of the activity is.
	What string
}

// Catalogue lists every activity in the order the portal shows them. The
// CEL rule on spec.scoring.weights and the enum on Activity name the same
// keys; a test keeps the three in step.
var Catalogue = []ActivityInfo{
	{TapIn, "Attendance", "a card tapped at an attendance reader in a lecture or seminar"},
	{FaserUpload, "FASER uploads", "an assignment uploaded to the submission system"},
	{FaserView, "FASER views", "an assignment viewed in the submission system"},
	{ListenAgain, "Listen Again", "a lecture recording played through a signed-in route"},
	{PCLabLogin, "PC lab logins", "a login to a university computer"},
	{MoodleCourse, "Moodle course pages", "a Moodle page of one of the student's own courses"},
	{MoodleLogin, "Moodle logins", "a login to Moodle from a desktop"},
	{MoodleMobile, "Moodle mobile", "any Moodle activity from a phone or tablet"},
	{LibraryLoan, "Library loans", "a printed book checked out of the library"},
	{ReadingList, "Reading lists", "a reading list opened through a signed-in route"},
}

// NumActivities is the size of the catalogue; arrays of per-activity
// counts are indexed by catalogue position.
const NumActivities = 10

// ActivityIndex is the position of key in the catalogue, or false when the
// key is unknown.
func ActivityIndex(key string) (int, bool) {
	for i, a := range Catalogue {
		if string(a.Key) == key {
			return i, true
		}
	}
	return -1, false
}

// KnownActivity reports whether key names an activity of the catalogue.
func KnownActivity(key string) bool {
	_, ok := ActivityIndex(key)
	return ok
}
