package query

import "testing"

// Cells a spreadsheet would run as formulas get a leading '; numbers,
// negative ones included, and everything else stay as they are.
func TestSpreadsheetSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{`=HYPERLINK("http://x","y")`, `'=HYPERLINK("http://x","y")`},
		{"+SUM(A1:A9)", "'+SUM(A1:A9)"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"-", "'-"},
		{"-Inf", "'-Inf"},
		{"-3.5", "-3.5"},
		{"-0.0008", "-0.0008"},
		{"-1e-05", "-1e-05"},
		{"+12", "+12"},
		{"-.5", "-.5"},
		{"Ana’s Apple Watch", "Ana’s Apple Watch"},
		{"2025-03-01T08:00:00-08:00", "2025-03-01T08:00:00-08:00"},
		{"{-0.0008,0.0001}", "{-0.0008,0.0001}"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := spreadsheetSafe([]byte(tc.in)); got != tc.want {
			t.Errorf("spreadsheetSafe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
