package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"simple", "sport/tennis/player1", nil},
		{"single level", "a", nil},
		{"leading slash", "/finance", nil},
		{"trailing slash", "a/", nil},
		{"empty level", "a//b", nil},
		{"only separator", "/", nil},
		{"dollar", "$SYS/broker/load", nil},
		{"space", "a b", nil},
		{"unicode", "温度/室内", nil},
		{"empty", "", ErrEmpty},
		{"plus", "a/+/b", ErrWildcardInName},
		{"hash", "a/#", ErrWildcardInName},
		{"plus inside level", "a+b", ErrWildcardInName},
		{"null", "a\x00b", ErrNull},
		{"bad utf8", "a\xffb", ErrUTF8},
		{"max length", strings.Repeat("a", MaxLen), nil},
		{"too long", strings.Repeat("a", MaxLen+1), ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.in)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("ValidateName(%.20q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"exact", "sport/tennis/player1", nil},
		{"hash alone", "#", nil},
		{"plus alone", "+", nil},
		{"hash last", "sport/tennis/#", nil},
		{"plus middle", "sport/+/player1", nil},
		{"plus both", "+/tennis/#", nil},
		{"plus plus", "+/+", nil},
		{"leading empty", "/+", nil},
		{"empty levels", "a//b", nil},
		{"dollar", "$SYS/#", nil},
		{"hash not last", "sport/tennis/#/ranking", ErrBadWildcard},
		{"hash in level", "sport/tennis#", ErrBadWildcard},
		{"hash before slash", "#/", ErrBadWildcard},
		{"plus in level", "sport+", ErrBadWildcard},
		{"plus in middle level", "sport/ten+nis/x", ErrBadWildcard},
		{"empty", "", ErrEmpty},
		{"null", "a/\x00", ErrNull},
		{"too long", strings.Repeat("a", MaxLen+1), ErrTooLong},
		{"bad utf8", "\xc3", ErrUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateFilter(tt.in)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("ValidateFilter(%.20q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

// matchCases are the examples of MQTT 5.0 section 4.7 and the edge cases of
// empty levels and $ topics. Each is checked against Match and an Index.
var matchCases = []struct {
	filter, name string
	want         bool
}{
	// 4.7.1.2 multi-level wildcard.
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/#", "sport", true},
	{"#", "sport/tennis", true},
	{"#", "/", true},
	{"sport/tennis/#", "sport/tennis", true},
	{"sport/tennis/#", "sport/tennisx", false},
	{"sport/tennis/#", "sport", false},
	// 4.7.1.3 single-level wildcard.
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player2", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+", "sport", true},
	{"+", "/finance", false},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+/#", "sport", true},
	{"+/tennis/#", "sport/tennis/player1", true},
	{"+/tennis/#", "sport/tennis", true},
	{"+/tennis/#", "sport/golf", false},
	// Empty levels are levels.
	{"a//b", "a//b", true},
	{"a/+/b", "a//b", true},
	{"a/b", "a//b", false},
	{"a/+", "a/", true},
	{"/a", "/a", true},
	{"/a", "a", false},
	{"a", "a/", false},
	{"+/+", "/", true},
	{"+", "/", false},
	// 4.7.2 topics beginning with $.
	{"#", "$SYS/broker/clients", false},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/#", "$SYS/", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"$SYS/+", "$SYS/monitor/Clients", false},
	{"#", "a/$b", true},
	{"+/$b", "a/$b", true},
	// Exact and case sensitive.
	{"ACCOUNTS", "Accounts", false},
	{"a/b/c", "a/b/c", true},
	{"a/b/c", "a/b", false},
	{"a/b", "a/b/c", false},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchCases {
		t.Run(tt.filter+" "+tt.name, func(t *testing.T) {
			if got := Match(tt.filter, tt.name); got != tt.want {
				t.Fatalf("Match(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
			}
			if got := refMatch(tt.filter, tt.name); got != tt.want {
				t.Fatalf("refMatch(%q, %q) = %v, want %v (reference is wrong)", tt.filter, tt.name, got, tt.want)
			}
		})
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		in            string
		group, filter string
		ok            bool
		err           error
	}{
		{"$share/g1/a/b", "g1", "a/b", true, nil},
		{"$share/g1/#", "g1", "#", true, nil},
		{"$share/g1//a", "g1", "/a", true, nil},
		{"$share/consumer1/sport/tennis/+", "consumer1", "sport/tennis/+", true, nil},
		{"a/b", "", "a/b", false, nil},
		{"$SYS/#", "", "$SYS/#", false, nil},
		{"$sharex/g/a", "", "$sharex/g/a", false, nil},
		{"$share", "", "", true, ErrBadShare},
		{"$share/", "", "", true, ErrBadShare},
		{"$share/g", "", "", true, ErrBadShare},
		{"$share/g/", "", "", true, ErrBadShare},
		{"$share//a", "", "", true, ErrBadShare},
		{"$share/g+/a", "", "", true, ErrBadShare},
		{"$share/#/a", "", "", true, ErrBadShare},
		{"$share/g/a/#/b", "", "", true, ErrBadWildcard},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			group, filter, ok, err := ParseShared(tt.in)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil && !errors.Is(err, ErrBadShare) {
				t.Fatalf("err = %v, want it to wrap ErrBadShare", err)
			}
			if group != tt.group || filter != tt.filter || ok != tt.ok {
				t.Fatalf("got (%q, %q, %v), want (%q, %q, %v)", group, filter, ok, tt.group, tt.filter, tt.ok)
			}
		})
	}
}

// refMatch is a deliberately plain reference: split both into levels and
// compare them one by one.
func refMatch(filter, name string) bool {
	f := strings.Split(filter, "/")
	n := strings.Split(name, "/")
	if strings.HasPrefix(name, "$") && (f[0] == "+" || f[0] == "#") {
		return false
	}
	for i, fl := range f {
		if fl == "#" {
			return i == len(f)-1
		}
		if i >= len(n) {
			return false
		}
		if fl != "+" && fl != n[i] {
			return false
		}
	}
	return len(f) == len(n)
}

func FuzzMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.filter, c.name)
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		if ValidateFilter(filter) != nil || ValidateName(name) != nil {
			return
		}
		want := refMatch(filter, name)
		if got := Match(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, name, got, want)
		}
		ix := NewIndex[int, struct{}]()
		ix.Subscribe(1, filter, struct{}{})
		ix.Subscribe(2, "#", struct{}{})
		got := false
		ix.Match(name, func(k int, fl string, _ struct{}) {
			if k == 1 {
				got = true
				if fl != filter {
					t.Fatalf("index reported filter %q, want %q", fl, filter)
				}
			}
		})
		if got != want {
			t.Fatalf("Index.Match(%q) with %q = %v, reference says %v", name, filter, got, want)
		}
	})
}
