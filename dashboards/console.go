package dashboards

import (
	"encoding/json"
	"strings"
)

// The OpenShift console renders dashboards from ConfigMaps in
// openshift-config-managed in Grafana's older schema (rows of panels, a
// 12-column grid) and only the panel types graph, singlestat, gauge,
// table and grafana-piechart-panel; it has no datasource variable and
// leaves $__rate_interval alone. Console is the variant built for it: the
// panels marked Console, as graphs, singlestats and tables.

type (
	consoleDashboard struct {
		Title       string            `json:"title"`
		UID         string            `json:"uid"`
		Description string            `json:"description"`
		Tags        []string          `json:"tags"`
		Time        map[string]string `json:"time"`
		Refresh     string            `json:"refresh"`
		Templating  struct {
			List []consoleVar `json:"list"`
		} `json:"templating"`
		Rows []consoleRow `json:"rows"`
	}
	consoleVar struct {
		Name       string          `json:"name"`
		Label      string          `json:"label"`
		Type       string          `json:"type"`
		Query      string          `json:"query"`
		Datasource *string         `json:"datasource"`
		IncludeAll bool            `json:"includeAll"`
		AllValue   string          `json:"allValue"`
		Multi      bool            `json:"multi"`
		Refresh    int             `json:"refresh"`
		Hide       int             `json:"hide"`
		Current    consoleSelected `json:"current"`
		Options    []any           `json:"options"`
	}
	consoleSelected struct {
		Text  string `json:"text"`
		Value string `json:"value"`
	}
	consoleRow struct {
		Title     string         `json:"title"`
		ShowTitle bool           `json:"showTitle"`
		Collapse  bool           `json:"collapse"`
		Panels    []consolePanel `json:"panels"`
	}
	consolePanel struct {
		ID          int             `json:"id"`
		Title       string          `json:"title"`
		Description string          `json:"description"`
		Type        string          `json:"type"`
		Span        int             `json:"span"`
		Targets     []consoleTarget `json:"targets"`
		// graph
		Yaxes  []consoleAxis `json:"yaxes,omitempty"`
		Legend *struct {
			Show bool `json:"show"`
		} `json:"legend,omitempty"`
		Stack bool `json:"stack,omitempty"`
		// singlestat
		Format   string `json:"format,omitempty"`
		Decimals *int   `json:"decimals,omitempty"`
		// table
		Transform string         `json:"transform,omitempty"`
		Styles    []consoleStyle `json:"styles,omitempty"`
	}
	consoleTarget struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		RefID        string `json:"refId"`
		Instant      bool   `json:"instant,omitempty"`
		Format       string `json:"format,omitempty"`
	}
	consoleAxis struct {
		Format string   `json:"format"`
		Min    *float64 `json:"min,omitempty"`
		Max    *float64 `json:"max,omitempty"`
		Show   bool     `json:"show"`
	}
	consoleStyle struct {
		Pattern  string `json:"pattern"`
		Type     string `json:"type"`
		Unit     string `json:"unit,omitempty"`
		Decimals int    `json:"decimals"`
	}
)

// consoleInterval stands for $__rate_interval in the console, and the
// dashboard's default range for $__range.
const consoleInterval = "5m"

// consoleUnit maps a Grafana unit to one the console knows.
func consoleUnit(u string) string {
	switch u {
	case "percentunit", "s", "bytes", "short":
		return u
	case "ops":
		return "short"
	}
	return "short"
}

// ConsoleJSON is the OpenShift console variant, or nil when no panel is
// marked for it.
func (d *Dashboard) ConsoleJSON() ([]byte, error) {
	c := consoleDashboard{Title: d.Title, UID: d.UID + "-console", Description: d.Description, Tags: d.Tags,
		Time: map[string]string{"from": d.Time, "to": "now"}, Refresh: "30s"}
	for _, v := range d.Vars {
		cv := consoleVar{Name: v.Name, Label: v.Label, Type: "query", Query: v.Query, IncludeAll: true, AllValue: ".*", Multi: true,
			Refresh: 2, Current: consoleSelected{Text: "All", Value: "$__all"}, Options: []any{}}
		if len(v.Values) > 0 {
			cv.Type, cv.Query, cv.Refresh = "custom", strings.Join(v.Values, ","), 0
		}
		c.Templating.List = append(c.Templating.List, cv)
	}
	id := 0
	for _, r := range d.Rows {
		row := consoleRow{Title: r.Title, ShowTitle: true}
		for _, p := range r.Panels {
			if !p.Console {
				continue
			}
			id++
			cp := consolePanel{ID: id, Title: p.Title, Description: p.Description, Span: max(p.Width/2, 3)}
			for i, q := range p.Queries {
				expr := strings.NewReplacer("$__rate_interval", consoleInterval, "$__range", strings.TrimPrefix(d.Time, "now-")).Replace(q.Expr)
				cp.Targets = append(cp.Targets, consoleTarget{Expr: expr,
					LegendFormat: q.Legend, RefID: string(rune('A' + i)), Instant: q.Instant})
			}
			switch p.Kind {
			case Stat:
				cp.Type, cp.Format = "singlestat", consoleUnit(p.Unit)
			case Table, BarGauge:
				cp.Type, cp.Transform = "table", "table"
				for i := range cp.Targets {
					cp.Targets[i].Format, cp.Targets[i].Instant = "table", true
				}
				cp.Styles = []consoleStyle{{Pattern: "Value", Type: "number", Unit: consoleUnit(p.Unit), Decimals: 3}, {Pattern: "Time", Type: "hidden"}}
			default:
				cp.Type = "graph"
				cp.Yaxes = []consoleAxis{{Format: consoleUnit(p.Unit), Min: p.Min, Max: p.Max, Show: true}, {Format: "short", Show: false}}
				cp.Legend = &struct {
					Show bool `json:"show"`
				}{Show: true}
				cp.Stack = p.Stack != ""
			}
			row.Panels = append(row.Panels, cp)
		}
		if len(row.Panels) > 0 {
			c.Rows = append(c.Rows, row)
		}
	}
	if len(c.Rows) == 0 {
		return nil, nil
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
