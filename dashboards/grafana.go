package dashboards

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// datasource is every query's: the dashboard's datasource variable.
func datasource() common.DataSourceRef {
	typ, uid := "prometheus", "${datasource}"
	return common.DataSourceRef{Type: &typ, Uid: &uid}
}

// panelBuilder is what the panel builders of grafana-foundation-sdk have
// in common (each kind has its own type).
type panelBuilder[T any] interface {
	cog.Builder[dashboard.Panel]
	Title(string) T
	Description(string) T
	Datasource(common.DataSourceRef) T
	Height(uint32) T
	Span(uint32) T
	Unit(string) T
	Min(float64) T
	Max(float64) T
	Thresholds(cog.Builder[dashboard.ThresholdsConfig]) T
	Mappings([]dashboard.ValueMapping) T
	WithTarget(cog.Builder[variants.Dataquery]) T
	OverrideByRegexp(string, []dashboard.DynamicConfigValue) T
	Repeat(string) T
	RepeatDirection(dashboard.PanelRepeatDirection) T
}

// fill sets what every kind of panel takes from p.
func fill[T panelBuilder[T]](b T, p Panel) T {
	b = b.Title(p.Title).Description(p.Description).Datasource(datasource()).
		Height(uint32(p.Height)).Span(uint32(p.Width)).Unit(p.Unit)
	if p.Min != nil {
		b = b.Min(*p.Min)
	}
	if p.Max != nil {
		b = b.Max(*p.Max)
	}
	if len(p.Thresholds) > 0 {
		steps := make([]dashboard.Threshold, len(p.Thresholds))
		for i, s := range p.Thresholds {
			steps[i] = dashboard.Threshold{Color: s.Color}
			if i > 0 {
				v := s.Value
				steps[i].Value = &v
			}
		}
		b = b.Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps))
	}
	if len(p.States) > 0 {
		m := dashboard.NewValueMap()
		for i, s := range p.States {
			text, color, index := s.Text, s.Color, int32(i)
			m.Options[s.Value] = dashboard.ValueMappingResult{Text: &text, Color: &color, Index: &index}
		}
		b = b.Mappings([]dashboard.ValueMapping{{ValueMap: m}})
	}
	if p.Repeat != "" {
		b = b.Repeat(p.Repeat).RepeatDirection(dashboard.PanelRepeatDirectionV)
	}
	for _, nc := range p.ColorByName {
		b = b.OverrideByRegexp(nc.Regexp, []dashboard.DynamicConfigValue{{Id: "color", Value: map[string]any{"mode": "fixed", "fixedColor": nc.Color}}})
	}
	for i, q := range p.Queries {
		t := prometheus.NewDataqueryBuilder().Datasource(datasource()).Expr(q.Expr).LegendFormat(q.Legend).RefId(string(rune('A' + i)))
		switch {
		case q.Heatmap:
			t = t.Format(prometheus.PromQueryFormatHeatmap)
		case q.Instant:
			t = t.Instant()
		default:
			t = t.Range()
		}
		b = b.WithTarget(t)
	}
	return b
}

// grafanaPanel builds one panel of p's kind, with id.
func grafanaPanel(p Panel, id uint32) (cog.Builder[dashboard.Panel], error) {
	switch p.Kind {
	case TimeSeries:
		b := fill(timeseries.NewPanelBuilder().Id(id), p).FillOpacity(10).
			Legend(common.NewVizLegendOptionsBuilder().ShowLegend(true).DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom))
		switch p.Stack {
		case "percent":
			b = b.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModePercent)).FillOpacity(60)
		case "normal":
			b = b.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
		}
		return b, nil
	case StateTimeline:
		return fill(statetimeline.NewPanelBuilder().Id(id), p).ShowValue(common.VisibilityModeNever).MergeValues(true).FillOpacity(80), nil
	case Heatmap:
		return fill(heatmap.NewPanelBuilder().Id(id), p).Calculate(false), nil
	case Stat:
		return fill(stat.NewPanelBuilder().Id(id), p).ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})), nil
	case BarGauge:
		return fill(bargauge.NewPanelBuilder().Id(id), p).DisplayMode(common.BarGaugeDisplayModeGradient).Orientation(common.VizOrientationHorizontal).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})), nil
	case Table:
		return fill(table.NewPanelBuilder().Id(id), p).ShowHeader(true), nil
	}
	return nil, fmt.Errorf("panel %q: unknown kind %q", p.Title, p.Kind)
}

// Grafana builds the dashboard for Grafana.
func (d *Dashboard) Grafana() (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder(d.Title).Uid(d.UID).Description(d.Description).Tags(d.Tags).
		Time(d.Time, "now").Timezone(common.TimeZoneBrowser).Refresh("30s").Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Editable()
	ds := dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus")
	b = b.WithVariable(ds)
	all := ".*"
	for _, v := range d.Vars {
		if len(v.Values) > 0 {
			opts := strings.Join(v.Values, ",")
			b = b.WithVariable(dashboard.NewCustomVariableBuilder(v.Name).Label(v.Label).Description(v.Description).
				Values(dashboard.StringOrMap{String: &opts}).Multi(true).IncludeAll(true).AllValue(all).Current(allOption()))
			continue
		}
		q := v.Query
		b = b.WithVariable(dashboard.NewQueryVariableBuilder(v.Name).Label(v.Label).Description(v.Description).
			Query(dashboard.StringOrMap{String: &q}).Datasource(datasource()).Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Multi(true).IncludeAll(true).AllValue(all).Current(allOption()).Sort(dashboard.VariableSortAlphabeticalAsc))
	}
	for _, a := range d.Annotations {
		b = b.Annotation(dashboard.NewAnnotationQueryBuilder().Name(a.Name).Datasource(datasource()).Enable(true).
			IconColor(a.Color).Expr(a.Expr).TitleFormat(a.Title).Step("60s"))
	}
	// Stable panel ids, in order: links such as ?viewPanel=7 keep working.
	id := uint32(0)
	for _, r := range d.Rows {
		id++
		b = b.WithRow(dashboard.NewRowBuilder(r.Title).Id(id))
		for _, p := range r.Panels {
			id++
			pb, err := grafanaPanel(p, id)
			if err != nil {
				return dashboard.Dashboard{}, err
			}
			b = b.WithPanel(pb)
		}
	}
	return b.Build()
}

func allOption() dashboard.VariableOption {
	sel := true
	text, value := "All", "$__all"
	return dashboard.VariableOption{Selected: &sel, Text: dashboard.StringOrArrayOfString{String: &text},
		Value: dashboard.StringOrArrayOfString{String: &value}}
}

// GrafanaJSON is the dashboard as Grafana imports it, indented.
func (d *Dashboard) GrafanaJSON() ([]byte, error) {
	g, err := d.Grafana()
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.UID, err)
	}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
