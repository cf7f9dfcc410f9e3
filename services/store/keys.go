package store

// Every Redis key LEAP uses is built in this package; the layouts are
// listed beside the data they hold (events.go, records.go, roster.go, and
// below for the keys of one service) and, with each key's Cluster hash
// slot, in keys_test.go. Keys outside a student's hash tag are read one at
// a time, or in pipelines that a Cluster client splits by slot.
//
//	leap:xapi:SOURCE:ID           STRING fingerprint of an xAPI statement a source sent
//	leap:session:ID               STRING a portal session
//	leap:login:user:NAME          INT    failed sign-ins of an account in the current window
//	leap:login:addr:ADDR          INT    failed sign-ins from an address in the current window
//	leap:oidc:used:SHA256         STRING a single sign-on state already redeemed
//	leap:audit                    STREAM the audit log

// ScoringCacheKey holds scoring's cached answers about a student. It
// shares the student's hash tag, so scoring reads it in one round trip
// with VersionKey and ProfileKey, and a Cluster keeps them on one slot.
func ScoringCacheKey(student string) string { return studentTag(student) + ":k" }

// XAPIStatementKey holds the fingerprint of a statement a source sent:
// statement ids are unique per LRS, so each source has its own. No hash
// tag: the keys spread over a Cluster, and every operation is on one key.
func XAPIStatementKey(source, id string) string { return "leap:xapi:" + source + ":" + id }

// SessionKey holds a portal session.
func SessionKey(id string) string { return "leap:session:" + id }

// LoginAccountKey counts the failed sign-ins of an account.
func LoginAccountKey(username string) string { return "leap:login:user:" + username }

// LoginAddressKey counts the failed sign-ins from a client address.
func LoginAddressKey(addr string) string { return "leap:login:addr:" + addr }

// OIDCUsedStateKey remembers a single sign-on state already redeemed, by
// the hex SHA-256 of the state.
func OIDCUsedStateKey(sha256hex string) string { return "leap:oidc:used:" + sha256hex }

// AuditStreamKey is the stream of the whole audit log; each student's
// entries are also in their AuditKey.
const AuditStreamKey = "leap:audit"
