package main

import (
	"fmt"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/hardening"
)

// loadContent reads the operator's datastreams (and digests) from the compliance block's
// content directory.
func loadContent(cfg *config.Config) (hardening.Datastreams, error) {
	ds, err := hardening.Content{Dir: cfg.Compliance.ContentDir}.Load()
	if err != nil {
		return nil, fmt.Errorf("load compliance content from %s: %w", cfg.Compliance.ContentDir, err)
	}
	return ds, nil
}
