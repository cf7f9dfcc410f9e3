package store

import "testing"

// FuzzParsePacked: the bulk reader's parser gives what ParseCounts gives,
// counts and refusals alike.
func FuzzParsePacked(f *testing.F) {
	for _, s := range []string{"", "1", "1,2,3", "0,0,4", "1,,2", "-1", "+1", "1,2,3,4,5,6,7,8,9,10,11", "2147483647", "2147483648", "99999999999", " 1", "007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, packed string) {
		want, wantErr := ParseCounts(packed)
		got, err := parsePacked(packed)
		if (err != nil) != (wantErr != nil) || (err == nil && got != want) {
			t.Fatalf("%q: parsePacked %v %v, ParseCounts %v %v", packed, got, err, want, wantErr)
		}
	})
}
