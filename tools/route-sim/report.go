package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// report is everything one invocation measured.
type report struct {
	Date    string   `json:"date"`    // start, UTC
	Kafka   string   `json:"kafka"`   // the cluster, without secrets
	RunID   string   `json:"run_id"`  // in every topic name of the run
	Results []result `json:"results"` // one per mode and size, in run order
}

func (r report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeTable prints one line per run, in the units docs/scaling.md uses.
func (r report) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tnodes\trate (msg/s)\tfetched (records/s)\tfetched (MB/s)\tfetched per message\tCPU (cores)\tKafka CPU (cores)\tbehind (s)\tdeliveries\t")
	for _, res := range r.Results {
		// No nodes, nothing fetched: a dash, not a zero that reads as a
		// measurement.
		fetched, mb, perMsg, behind := "-", "-", "-", "-"
		if res.Deliveries != nil {
			behind = fmt.Sprintf("%.2f", res.Behind)
			fetched, mb = fmt.Sprintf("%.0f", res.Fetched), fmt.Sprintf("%.2f", res.FetchedBytes/1e6)
			if res.Published > 0 {
				perMsg = fmt.Sprintf("%.2f", float64(res.FetchedTotal)/float64(res.Published))
			}
		}
		kcpu := "-"
		if res.KafkaCPU >= 0 {
			kcpu = fmt.Sprintf("%.2f", res.KafkaCPU)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t\n",
			res.Mode, res.Nodes, res.Rate, fetched, mb, perMsg, res.CPU, kcpu, behind, deliveries(res.Deliveries))
	}
	return tw.Flush()
}

// deliveries sums a verdict up in one cell.
func deliveries(v *verdict) string {
	switch {
	case v == nil:
		return "-"
	case v.ok():
		return fmt.Sprintf("ok (%d)", v.Delivered)
	}
	return fmt.Sprintf("%d missing, %d duplicate, %d out of order, %d unexpected",
		v.Missing, v.Duplicate, v.OutOfOrder, v.Unexpected)
}
