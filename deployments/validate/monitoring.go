package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// ErrUnknownMetric is wrapped when an alert rule or a dashboard panel
// queries a metric the binaries do not export: it would never fire, or
// show nothing, and nobody would notice.
var ErrUnknownMetric = errors.New("unknown metric")

// prometheusOwn are series Prometheus itself writes for every target.
var prometheusOwn = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"}

// CheckMonitoring checks every PromQL query of the PrometheusRules and of
// the Grafana dashboards (ConfigMaps labelled grafana_dashboard) against
// exported, the metric names the binaries register. A histogram's
// _bucket, _sum and _count series count as its name.
func CheckMonitoring(objs []*Object, exported map[string]bool) error {
	known := func(name string) bool {
		if exported[name] || slices.Contains(prometheusOwn, name) {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] {
				return true
			}
		}
		return false
	}
	var errs []error
	check := func(o *Object, where, expr string) {
		for _, name := range MetricNames(expr) {
			if !known(name) {
				errs = append(errs, fmt.Errorf("%s: %s: %w %s (in %q)", o, where, ErrUnknownMetric, name, expr))
			}
		}
	}
	for _, o := range objs {
		switch {
		case o.GVK.Kind == "PrometheusRule":
			var r struct {
				Spec struct {
					Groups []struct {
						Name  string `json:"name"`
						Rules []struct {
							Alert  string `json:"alert"`
							Record string `json:"record"`
							Expr   string `json:"expr"`
						} `json:"rules"`
					} `json:"groups"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal(o.YAML, &r); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", o, err))
				continue
			}
			for _, g := range r.Spec.Groups {
				for _, rule := range g.Rules {
					check(o, "rule "+g.Name+"/"+rule.Alert+rule.Record, rule.Expr)
				}
			}
		case o.GVK.Kind == "ConfigMap" && strings.Contains(string(o.YAML), "grafana_dashboard"):
			errs = append(errs, checkDashboards(o, check))
		}
	}
	return errors.Join(errs...)
}

// checkDashboards checks the panels and template variables of every
// dashboard JSON in a ConfigMap.
func checkDashboards(o *Object, check func(*Object, string, string)) error {
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(o.YAML, &cm); err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	var errs []error
	for file, body := range cm.Data {
		var d dashboardJSON
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", o, file, err))
			continue
		}
		if len(d.Panels) == 0 {
			errs = append(errs, fmt.Errorf("%s: %s: dashboard has no panels", o, file))
		}
		for _, p := range d.Panels {
			for _, t := range p.Targets {
				check(o, fmt.Sprintf("%s panel %q", file, p.Title), t.Expr)
			}
		}
		for _, v := range d.Templating.List {
			q := v.query()
			// label_values(selector, label) is Grafana's, not PromQL: only
			// the selector names a metric.
			if inner, ok := strings.CutPrefix(q, "label_values("); ok {
				sel, _, _ := strings.Cut(strings.TrimSuffix(inner, ")"), ",")
				check(o, fmt.Sprintf("%s variable %q", file, v.Name), sel)
			}
		}
	}
	return errors.Join(errs...)
}

// dashboardJSON is the part of a Grafana dashboard that holds queries.
type dashboardJSON struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []templateVar `json:"list"`
	} `json:"templating"`
}

type templateVar struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// query is the variable's query, which Grafana stores as a string or as
// an object with a query field.
func (v templateVar) query() string {
	if v.Type != "query" {
		return ""
	}
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &q)
	return q.Query
}

// labelLists are the PromQL keywords followed by a parenthesised list of
// label names, not of expressions.
var labelLists = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// keywords are PromQL words that are not metrics: operators, and the
// aggregations, which may stand before their parenthesis with a label list
// in between (sum by (le) (...)).
var keywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan",
	"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
	"bottomk", "topk", "quantile", "limitk", "limit_ratio"}

// MetricNames returns the metric names a PromQL expression selects, in
// order of appearance: identifiers that are not functions, aggregations,
// keywords or label names (label matchers in braces, label lists after
// by/without/on/ignoring/group_left/group_right, ranges in brackets and
// strings are skipped).
func MetricNames(expr string) []string {
	var out []string
	r := []rune(expr)
	i := 0
	skipTo := func(open, close rune) {
		depth := 0
		for ; i < len(r); i++ {
			switch r[i] {
			case '"', '\'', '`':
				skipString(r, &i)
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					i++
					return
				}
			}
		}
	}
	for i < len(r) {
		c := r[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			skipString(r, &i)
			i++
		case c == '{':
			skipTo('{', '}')
		case c == '[':
			skipTo('[', ']')
		case c >= '0' && c <= '9' || c == '.':
			for i < len(r) && (isIdent(r[i]) || r[i] == '.') {
				i++ // a number or a duration (5m)
			}
		case isIdentStart(c):
			start := i
			for i < len(r) && isIdent(r[i]) {
				i++
			}
			word := string(r[start:i])
			j := i
			for j < len(r) && (r[j] == ' ' || r[j] == '\t' || r[j] == '\n') {
				j++
			}
			switch {
			case slices.Contains(labelLists, word):
				if j < len(r) && r[j] == '(' {
					i = j
					skipTo('(', ')')
				}
			case j < len(r) && r[j] == '(':
				// a function or an aggregation
			case slices.Contains(keywords, strings.ToLower(word)):
			default:
				out = append(out, word)
			}
		default:
			i++
		}
	}
	return out
}

// skipString moves *i to the closing quote of the string starting at *i.
func skipString(r []rune, i *int) {
	q := r[*i]
	for *i++; *i < len(r) && r[*i] != q; *i++ {
		if r[*i] == '\\' && q != '`' {
			*i++
		}
	}
}

func isIdentStart(c rune) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c rune) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
