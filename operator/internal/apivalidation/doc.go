// Package apivalidation holds the tests that prove the LeapTerm CRD on a
// real API server: every rule of the API rejects what it should, with its
// message, on create and on update; every sample is accepted; and the
// defaults of the schema equal the defaults the services apply to a file.
package apivalidation
