// Command values-schema writes CHART/values.schema.json from
// CHART/values.yaml (see package chartschema).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/leap-dev/leap/operator/internal/chartschema"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: values-schema CHART_DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	values, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err == nil {
		var schema []byte
		schema, err = chartschema.Generate("Values of the "+filepath.Base(dir)+" chart", values)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "values.schema.json"), schema, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "values-schema:", err)
		os.Exit(1)
	}
}
