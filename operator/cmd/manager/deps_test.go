package main

import (
	"os"
	"strings"
	"testing"
)

// TestOperatorDoesNotRequireTheServices keeps the arrow one way: the
// services build on the API (operator/api: the LeapTerm, its policy
// document and calendar), the operator never on the services.
func TestOperatorDoesNotRequireTheServices(t *testing.T) {
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "github.com/leap-dev/leap/services") {
		t.Error("operator/go.mod requires the services module: move what the operator needs beside the API (operator/api)")
	}
}
