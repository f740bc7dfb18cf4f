package rollback

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/zerodown/zerodown/internal/promapi"
)

// PrometheusSamples is the data source of the no-data policy in a
// cluster: it asks the Prometheus at url whether some poller probed the
// alert's backend (over the alert's connection mode, when it names one)
// in the last NoDataWindow, from zerodown_observed_seconds_total.
func PrometheusSamples(url, tokenFile string, timeout time.Duration) (func(context.Context, map[string]string) (bool, error), error) {
	client, err := promapi.New(url, tokenFile)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, labels map[string]string) (bool, error) {
		sel := []string{"backend=" + strconv.Quote(labels["backend"])}
		if c := labels["connection"]; c != "" {
			sel = append(sel, "connection="+strconv.Quote(c))
		}
		q := fmt.Sprintf("sum(increase(zerodown_observed_seconds_total{%s}[%s])) > 0", strings.Join(sel, ","), model.Duration(NoDataWindow))
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		v, _, err := client.Query(ctx, q, time.Now())
		if err != nil {
			return false, fmt.Errorf("querying %s: %w", url, err)
		}
		vec, ok := v.(model.Vector)
		return ok && len(vec) > 0, nil
	}, nil
}
