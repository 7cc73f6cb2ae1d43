package hardening

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// tailoredProfile picks the profile to evaluate when a tailoring file is given. oscap applies
// a tailoring only to the profiles the file defines: evaluating the base profile by its own id
// would silently ignore the tailoring. So: the id itself when the file defines it, else the
// one profile of the file that extends it (SCAP Workbench writes BASE_customized), else an
// error that names the file's profiles.
func tailoredProfile(tailoring []byte, id string) (string, error) {
	var doc struct {
		Profiles []struct {
			ID      string `xml:"id,attr"`
			Extends string `xml:"extends,attr"`
		} `xml:"Profile"`
	}
	if err := xml.NewDecoder(bytes.NewReader(tailoring)).Decode(&doc); err != nil {
		return "", fmt.Errorf("tailoring: not an XCCDF tailoring file: %w", err)
	}
	var ids, extending []string
	for _, p := range doc.Profiles {
		if p.ID == id {
			return id, nil
		}
		ids = append(ids, p.ID)
		if p.Extends == id {
			extending = append(extending, p.ID)
		}
	}
	switch {
	case len(ids) == 0:
		return "", fmt.Errorf("tailoring: the file defines no Profile")
	case len(extending) == 1:
		return extending[0], nil
	case len(extending) > 1:
		return "", fmt.Errorf("tailoring: profiles %s all extend %s: name one with scap_profile", strings.Join(extending, ", "), id)
	}
	return "", fmt.Errorf("tailoring: no profile of the file (%s) is or extends %s: set scap_profile to the one to evaluate", strings.Join(ids, ", "), id)
}
